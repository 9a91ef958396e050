"""Scan a PyTorch model: forward hooks on every Conv1d/2d/3d and
ConvTranspose1d/2d/3d capture the spec (with its padding_mode, or its
output_padding), the real weights and the activation each layer received."""

from __future__ import annotations

import numpy as np

from ...spec import ConvSpec, layout_of
from ...porting import ConvLayer, ScannedModel, fold_padding

DTYPES = {"torch.float32": "float32", "torch.float64": "float64", "torch.float16": "float16",
          "torch.bfloat16": "bfloat16"}


def _array(tensor) -> np.ndarray:
    import torch

    tensor = tensor.detach()
    if tensor.dtype == torch.bfloat16:
        import ml_dtypes

        return tensor.float().numpy().astype(ml_dtypes.bfloat16)
    return tensor.numpy().copy()


def layer_spec(module, x_shape: tuple[int, ...], y_shape: tuple[int, ...] | None = None) -> ConvSpec:
    """The spec of one ``torch.nn.ConvNd`` or ``ConvTransposeNd`` applied to an input of
    ``x_shape``. A transposed module called with ``output_size`` picks its output
    padding from it: read from ``y_shape``, the output it gave, where known."""
    import torch

    rank = len(x_shape) - 2
    padding = module.padding
    if not isinstance(padding, str):
        padding = tuple((p, p) for p in padding)
    transposed = isinstance(module, (torch.nn.ConvTranspose1d, torch.nn.ConvTranspose2d, torch.nn.ConvTranspose3d))
    spec = ConvSpec(
        layout=layout_of(rank, channels_last=False), batch=x_shape[0], in_channels=module.in_channels,
        out_channels=module.out_channels, spatial=tuple(x_shape[2:]), kernel=module.kernel_size,
        stride=module.stride, dilation=module.dilation, padding=padding, groups=module.groups,
        bias=module.bias is not None, dtype=DTYPES.get(str(module.weight.dtype), str(module.weight.dtype)),
        transposed=transposed, padding_mode=module.padding_mode,
    )
    if transposed and y_shape is not None:
        return spec.replace(output_padding=tuple(
            out - default for out, default in zip(y_shape[2:], spec.output_spatial)))
    return spec.replace(output_padding=module.output_padding) if transposed else spec


def zero_pads(module) -> tuple[tuple[int, int], ...] | None:
    """The (before, after) pairs, first spatial axis first, of a ZeroPad*d or a
    ConstantPad*d with value 0; None for any other module."""
    import torch

    kinds = tuple(getattr(torch.nn, f"{kind}{r}d") for kind in ("ZeroPad", "ConstantPad") for r in (1, 2, 3)
                  if hasattr(torch.nn, f"{kind}{r}d"))
    if not isinstance(module, kinds) or getattr(module, "value", 0) != 0:
        return None
    widths = module.padding  # F.pad's order: (before, after) of the last axis first
    return tuple((widths[i], widths[i + 1]) for i in range(len(widths) - 2, -1, -2))


def scan_torch(model, example, *, name: str | None = None, fold_zero_padding: bool = False) -> ScannedModel:
    import torch

    if example is None:
        raise ValueError("example: a PyTorch model needs an example input "
                         "(return (model, input) or pass --input-shape)")
    convs = (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d,
             torch.nn.ConvTranspose1d, torch.nn.ConvTranspose2d, torch.nn.ConvTranspose3d)
    captured: list[ConvLayer] = []
    padded: dict[int, tuple] = {}  # id of a zero-padding module's output -> (its output, its input, its pads)

    def pad_hook(module, inputs, output):
        padded[id(output)] = (output, inputs[0], zero_pads(module))

    def hook(module_name):
        def capture(module, inputs, output):
            kind = f"torch.nn.{type(module).__name__}"
            x = inputs[0]
            if x.dim() == module.weight.dim() - 1:  # an unbatched input
                x, output = x.unsqueeze(0), output.unsqueeze(0)
            try:
                spec = layer_spec(module, tuple(x.shape), tuple(output.shape))
            except ValueError as exc:  # a layer this spec cannot state: reported, the scan goes on
                captured.append(ConvLayer(module_name, kind, None, unsupported=str(exc)))
                return
            if id(inputs[0]) in padded and x is inputs[0]:
                _, unpadded, pads = padded[id(inputs[0])]
                folded = fold_padding(spec, pads)
                if folded is not None:
                    spec, x = folded, unpadded
            captured.append(ConvLayer(
                module_name, kind, spec, _array(x), _array(module.weight),
                None if module.bias is None else _array(module.bias), _array(output),
            ))
        return capture

    handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules() if isinstance(m, convs)]
    if fold_zero_padding:
        handles += [m.register_forward_hook(pad_hook) for m in model.modules() if zero_pads(m) is not None]
    try:
        with torch.no_grad():
            model.eval()
            output = model(example)
    finally:
        for handle in handles:
            handle.remove()
    return ScannedModel(name or type(model).__name__, "torch", tuple(captured),
                        _array(output) if isinstance(output, torch.Tensor) else None)
