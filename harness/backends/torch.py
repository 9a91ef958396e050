"""PyTorch: torch.nn.functional.conv1d/2d/3d and the torch.nn.Conv1d/2d/3d modules.

Channels-last layouts are permuted to NC... and back; 'same' uses PyTorch's
padding='same' where it accepts it (stride 1), symmetric padding the native
argument, and asymmetric padding an explicit F.pad first.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

from ..dtypes import numpy_dtype
from ..layouts import to_channels_first_axes, to_channels_last_axes
from ..spec import ConvSpec
from .base import Backend, Refusal, Script, spatial_padding_is_symmetric, tensor_names


@functools.cache
def _torch():
    import torch

    return torch


def _tensor(array, dtype: str):
    torch = _torch()
    if dtype == "bfloat16":  # NumPy's bfloat16 comes from ml_dtypes, which torch cannot read
        return torch.from_numpy(np.asarray(array, np.float32)).to(torch.bfloat16)
    return torch.from_numpy(np.ascontiguousarray(array))


def _numpy(tensor, dtype: str) -> np.ndarray:
    torch = _torch()
    if dtype == "bfloat16":
        return tensor.detach().to(torch.float32).numpy().astype(numpy_dtype(dtype))
    return tensor.detach().numpy()


def padding_argument(spec: ConvSpec):
    """The padding PyTorch's conv takes natively, or None if an F.pad must come first."""
    if spec.padding == "valid":
        return "valid"
    if spec.padding == "same" and all(s == 1 for s in spec.stride):
        return "same"
    if spatial_padding_is_symmetric(spec):
        return tuple(before for before, _ in spec.explicit_padding)
    return None


def f_pad_widths(spec: ConvSpec) -> tuple[int, ...]:
    """F.pad's widths: (before, after) pairs from the last spatial axis to the first."""
    return tuple(p for pair in reversed(spec.explicit_padding) for p in pair)


HALF_REFUSAL = Refusal(
    "half_precision_cpu",
    lambda spec: spec.dtype in ("float16", "bfloat16"),
    r"not implemented for '(Half|BFloat16)'",
    "this PyTorch build has no CPU convolution kernel for this half-precision dtype",
    dict(layout="NCHW", in_channels=1, out_channels=1, spatial=3, kernel=2, dtype="float16"),
)


class _Torch(Backend):
    module = "torch"
    refusals = (HALF_REFUSAL,)
    use_module = False
    imports = ("import torch",)

    def tensor_lines(self, spec: ConvSpec) -> list[str]:
        names = tensor_names(spec)
        if spec.dtype == "bfloat16":
            return [f"{names} = (torch.from_numpy(a.astype(np.float32)).to(torch.bfloat16) for a in ({names}))"]
        return [f"{names} = (torch.from_numpy(a) for a in ({names}))"]

    def result_for(self, spec: ConvSpec) -> str:
        return "y = y.detach().float().numpy()" if spec.dtype == "bfloat16" else "y = y.detach().numpy()"

    def _run(self, spec: ConvSpec, x, w, b, script: Script) -> np.ndarray:
        torch = _torch()
        F = torch.nn.functional
        r = spec.rank
        tx, tw = _tensor(x, spec.dtype), _tensor(w, spec.dtype)
        tb = None if b is None else _tensor(b, spec.dtype)
        if spec.channels_last:
            axes = to_channels_first_axes(r)
            script(f"x = x.permute{axes}  # {spec.layout} -> channels-first")
            script.transposed = True
            tx = tx.permute(axes)
        padding = padding_argument(spec)
        if padding is None:
            widths = f_pad_widths(spec)
            script(f"x = torch.nn.functional.pad(x, {list(widths)})  # asymmetric padding")
            tx = F.pad(tx, widths)
            padding = 0
        if spec.padding == "same" and padding != "same":
            script.note("PyTorch's padding='same' refuses stride > 1: the SAME pads are given explicitly")
        kwargs = dict(stride=spec.stride, padding=padding, dilation=spec.dilation, groups=spec.groups)
        args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        if self.use_module:
            script.conv(
                f"conv = torch.nn.Conv{r}d({spec.in_channels}, {spec.out_channels}, {spec.kernel}, "
                f"{args}, bias={spec.bias}, dtype={tw.dtype})"
            )
            script("conv.weight.data.copy_(w)" + ("; conv.bias.data.copy_(b)" if spec.bias else ""))
            script("y = conv(x)")
            layer = getattr(torch.nn, f"Conv{r}d")(
                spec.in_channels, spec.out_channels, spec.kernel, bias=spec.bias,
                dtype=tw.dtype, **kwargs,
            )
            with torch.no_grad():
                layer.weight.copy_(tw)
                if tb is not None:
                    layer.bias.copy_(tb)
                y = layer(tx)
        else:
            script.conv(f"y = torch.nn.functional.conv{r}d(x, w, {'b' if spec.bias else 'None'}, {args})")
            with warnings.catch_warnings():  # a note on speed, not on the result
                warnings.filterwarnings("ignore", "Using padding='same' with even kernel")
                y = getattr(F, f"conv{r}d")(tx, tw, tb, **kwargs)
        if spec.channels_last:
            axes = to_channels_last_axes(r)
            script(f"y = y.permute{axes}  # back to {spec.layout}")
            y = y.permute(axes)
        return _numpy(y, spec.dtype)


class TorchFunctional(_Torch):
    name = "torch"


class TorchModule(_Torch):
    name = "torch.nn"
    use_module = True
