"""PyTorch: torch.nn.functional.conv1d/2d/3d and conv_transpose1d/2d/3d, and
the torch.nn.Conv1d/2d/3d and ConvTranspose1d/2d/3d modules.

What is special: PyTorch convolves channels-first only (channels-last specs
are permuted around the call); padding='same' is refused for stride > 1 and
asymmetric pads need F.pad first (its widths run from the last axis
backwards), as do padding modes for the functional form (the modules take
padding_mode); a transposed conv crops the same on both sides, so an
asymmetric crop is the symmetric part as padding and the rest narrowed off;
NumPy's bfloat16 (ml_dtypes) goes in through float32. A gradient is
torch.autograd.grad of the output at dy, with respect to the input and the
weights (the modules' own parameters, made trainable once they hold them).
"""

from __future__ import annotations

import dataclasses
import warnings

from ...calls import Ref, Setting, Step, Var, call
from ...devices import Device
from ...layouts import channels_first_layout
from ...spec import ConvSpec
from ...backends.base import (Backend, Crash, NoForm, Refusal, gradient_results, release, spatial_padding_is_symmetric,
                              tensor_names)
from .cuda import cuda_count

HALF_REFUSAL = Refusal(
    "half_precision_cpu",
    lambda spec: spec.dtype in ("float16", "bfloat16"),
    r"not implemented for '(Half|BFloat16)'",
    "this PyTorch build has no CPU convolution kernel for this half-precision dtype (native float16 CPU "
    "convolutions arrived after 2.0; 2.13.0 has them; the cut-off at 2.2 is not verified by example)",
    dict(layout="NCHW", in_channels=1, out_channels=1, spatial=3, kernel=2, dtype="float16"),
    lambda spec: torch_release() < (2, 2),
)


def channels_last_grouped_dilated_segfault(spec: ConvSpec) -> bool:
    """A channels-last spec (the input a permuted, channels-last view) with a bias, groups,
    a dilation, a stride and a padding, each above its default on some axis."""
    return (spec.channels_last and not spec.transposed and spec.bias and spec.groups > 1
            and max(spec.dilation) > 1 and max(spec.stride) > 1 and any(map(any, spec.explicit_padding)))


CRASHES = (
    Crash(
        "channels_last_grouped_dilated_segfault",
        channels_last_grouped_dilated_segfault,
        "torch 2.13.0+cpu on an AVX-512 AMD EPYC kills its process (SIGSEGV) in torch.nn.functional.conv2d of "
        "an NHWC input permuted to NCHW (a channels-last view, as the adapter passes it) with a bias, groups 4, "
        "stride (2, 3), padding (0, 1) and dilation (1, 3) on a 12-channel 5x2 input with a 4x1 kernel. The "
        "same call is right with a contiguous input, without the bias, with groups 1, or with the dilation, "
        "the padding or the stride of the second axis at 1. Found by the gradient identity tests' draws; the "
        "extent is not known, so every channels-last spec with a bias, groups, a dilation, a stride and a "
        "padding is covered (checked in a child process).",
        dict(layout="NHWC", in_channels=12, out_channels=8, spatial=(5, 2), kernel=(4, 1), stride=(2, 3),
             dilation=(1, 3), padding=((0, 0), (1, 1)), groups=4, bias=True),
    ),
)


def torch_release() -> tuple[int, ...]:
    import torch

    return release(torch.__version__)


def _tf32_switch() -> tuple[str, object, bool]:
    """cuDNN's switch for TF32 in convolutions: its path, its float32 value, and whether it
    allows TF32 now (releases before ``conv.fp32_precision`` have ``allow_tf32``)."""
    import torch

    conv = getattr(torch.backends.cudnn, "conv", None)
    if conv is not None and hasattr(conv, "fp32_precision"):
        return "torch.backends.cudnn.conv.fp32_precision", "ieee", conv.fp32_precision == "tf32"
    return "torch.backends.cudnn.allow_tf32", False, torch.backends.cudnn.allow_tf32


def f_pad_widths(spec: ConvSpec) -> list[int]:
    """F.pad's widths: (before, after) pairs from the last spatial axis to the first."""
    return [p for pair in reversed(spec.explicit_padding) for p in pair]


class _Torch(Backend):
    module = "torch"
    refusals = (HALF_REFUSAL,)
    crashes = CRASHES

    def imports_for(self, spec: ConvSpec) -> tuple[str, ...]:
        return ("import torch", *(("import ml_dtypes",) if spec.dtype == "bfloat16" else ()))

    def namespace(self) -> dict:
        import ml_dtypes
        import torch

        return {"torch": torch, "ml_dtypes": ml_dtypes}

    def run_layout(self, spec: ConvSpec) -> str:
        return channels_first_layout(spec.layout)

    def transpose_reason(self, spec: ConvSpec, layout: str) -> str:
        return f"PyTorch convolves channels-first only: {spec.layout} is permuted to {layout} and back"

    def padding_argument(self, spec: ConvSpec, layout: str):
        if spec.padding == "valid":
            return "valid"
        if spec.padding == "same" and all(s == 1 for s in spec.stride):
            return "same"
        if spatial_padding_is_symmetric(spec):
            return tuple(before for before, _ in spec.explicit_padding)
        return None

    def notes(self, spec: ConvSpec) -> tuple[str, ...]:
        if spec.padding == "same" and any(s > 1 for s in spec.stride):
            return ("PyTorch's padding='same' refuses stride > 1: the SAME pads are given explicitly",)
        return ()

    def transpose(self, name: str, axes: tuple[int, ...]):
        return call(f"{name}.permute", *axes)

    def pad(self, name: str, spec: ConvSpec, layout: str):
        mode = {} if spec.padding_mode == "zeros" else {"mode": spec.padding_mode}
        return (call("torch.nn.functional.pad", Var(name), f_pad_widths(spec), **mode),)

    def to_framework(self, spec: ConvSpec) -> tuple[Step, ...]:
        if spec.dtype == "bfloat16":  # torch cannot read ml_dtypes' bfloat16: through float32
            return tuple(step for n in tensor_names(spec) for step in (
                Step(n, call("torch.from_numpy", call(f"{n}.astype", "float32"))),
                Step(n, call(f"{n}.to", Ref("torch.bfloat16")))))
        return tuple(Step(n, call("torch.from_numpy", Var(n))) for n in tensor_names(spec))

    def to_numpy(self, spec: ConvSpec) -> tuple[Step, ...]:
        if spec.dtype == "bfloat16":
            return (Step("y", call("y.detach")), Step("y", call("y.float")), Step("y", call("y.numpy")),
                    Step("y", call("y.astype", Ref("ml_dtypes.bfloat16"))))
        return Step("y", call("y.detach")), Step("y", call("y.numpy"))

    def place(self, spec: ConvSpec, device: Device) -> tuple[Step, ...]:
        if not device.accelerator:
            return ()
        found = cuda_count()
        if device.index >= found:
            raise NoForm(f"torch sees no CUDA device {device} (torch.cuda.device_count() is {found})")
        return tuple(Step(n, call(f"{n}.to", str(device))) for n in tensor_names(spec))

    def unplace(self, spec: ConvSpec, device: Device) -> tuple[Step, ...]:
        return (Step("y", call("y.cpu")),) if device.accelerator else ()

    def float32_settings(self) -> tuple[Setting, ...]:
        path, float32, _ = _tf32_switch()
        return (Setting(path, float32),)

    def capability(self, device: Device) -> tuple[int, ...]:
        import torch

        return torch.cuda.get_device_capability(device.index)

    def allows_tf32(self) -> bool:
        return _tf32_switch()[2]

    def execute(self, planned, x, w, b, dy=None):
        with warnings.catch_warnings():  # a note on speed, not on the result
            warnings.filterwarnings("ignore", "Using padding='same' with even kernel")
            return super().execute(planned, x, w, b, dy)

    def differentiate(self, spec: ConvSpec, body):
        """``torch.autograd.grad`` of ``y`` at ``dy``, with respect to the input as it entered the
        body (the body may permute or pad it) and the weights (``parameters``)."""
        steps = (Step("x_in", call("x.requires_grad_"), "the input, before the body rebinds x"),
                 *self.trained(spec, body))
        wrt = (Var("x_in"), *self.parameters(spec))
        grad = call("torch.autograd.grad", Var("y"), wrt, Var("dy"))
        return (*steps, Step(", ".join(gradient_results(spec)), grad)), len(steps)

    def arguments(self, spec: ConvSpec, padding) -> dict:
        return dict(stride=spec.stride, padding=padding, dilation=spec.dilation, groups=spec.groups)

    def transpose_arguments(self, spec: ConvSpec) -> dict:
        """The symmetric part of the crop as padding (the rest is narrowed off)."""
        return dict(stride=spec.stride, padding=tuple(min(pair) for pair in spec.explicit_padding),
                    output_padding=spec.explicit_output_padding, groups=spec.groups, dilation=spec.dilation)

    def narrow(self, spec: ConvSpec) -> tuple[Step, ...]:
        """What an asymmetric crop takes off beyond the symmetric padding."""
        steps = []
        for axis, ((before, after), size) in enumerate(zip(spec.explicit_padding, spec.output_spatial)):
            if before != after:
                comment = "" if steps else "the crop beyond the symmetric padding"
                steps.append(Step("y", call("y.narrow", 2 + axis, before - min(before, after), size), comment))
        return tuple(steps)

    def convolution_transpose(self, spec: ConvSpec, layout: str):
        steps, native = self.transposed_call(spec)
        return steps + self.narrow(spec), native


class TorchFunctional(_Torch):
    name = "torch"

    def trained(self, spec: ConvSpec, body):
        """The body, after the weights it takes are marked for autograd."""
        return (*(Step(None, call(f"{n}.requires_grad_")) for n in tensor_names(spec)[1:]), *body)

    def parameters(self, spec: ConvSpec):
        return tuple(Var(n) for n in tensor_names(spec)[1:])

    def convolution(self, spec: ConvSpec, layout: str, padding):
        bias = Var("b") if spec.bias else None
        conv = call(f"torch.nn.functional.conv{spec.rank}d", Var("x"), Var("w"), bias,
                    **self.arguments(spec, padding))
        return (Step("y", conv),), 0

    def transposed_call(self, spec: ConvSpec):
        bias = Var("b") if spec.bias else None
        conv = call(f"torch.nn.functional.conv_transpose{spec.rank}d", Var("x"), Var("w"), bias,
                    **self.transpose_arguments(spec))
        return (Step("y", conv),), 0


CALLED = Step("y", call("conv", Var("x")))  # the module called on the input
FROZEN = Step(None, call("conv.requires_grad_", False), "a forward pass only: no autograd graph")


class TorchModule(_Torch):
    name = "torch.nn"
    native_padding_modes = True  # Conv1d/2d/3d(padding_mode=...) where the padding is symmetric

    def trained(self, spec: ConvSpec, body):
        """The body, its module's parameters trainable again once they hold the weights."""
        at = body.index(CALLED)
        trainable = Step(None, call("conv.requires_grad_", True), "trainable: dw and db are its parameters' gradients")
        body = tuple(dataclasses.replace(s, comment="while the weights are copied in") if s == FROZEN else s
                     for s in body)
        return (*body[:at], trainable, *body[at:])

    def parameters(self, spec: ConvSpec):
        return (Ref("conv.weight"), *((Ref("conv.bias"),) if spec.bias else ()))

    def convolution(self, spec: ConvSpec, layout: str, padding):
        mode = {} if spec.padding_mode == "zeros" or padding == "valid" else {"padding_mode": spec.padding_mode}
        return self.module_call(f"torch.nn.Conv{spec.rank}d", spec, **self.arguments(spec, padding), **mode)

    def transposed_call(self, spec: ConvSpec):
        return self.module_call(f"torch.nn.ConvTranspose{spec.rank}d", spec, **self.transpose_arguments(spec))

    def module_call(self, module: str, spec: ConvSpec, **arguments):
        """The module built, its parameters set from ``w`` (and ``b``), called on ``x``."""
        module = call(module, spec.in_channels, spec.out_channels, spec.kernel,
                      **arguments, bias=spec.bias, dtype=Ref(f"torch.{spec.dtype}"))
        copies = [Step(None, call("conv.weight.copy_", Var("w")))]
        if spec.bias:
            copies.append(Step(None, call("conv.bias.copy_", Var("b"))))
        return (Step("conv", module), FROZEN, *copies, CALLED), 0
