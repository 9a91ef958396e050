"""Scan a Flax NNX model: every ``flax.nnx.Conv`` and ``flax.nnx.ConvTranspose``
call of one forward pass, with the layer's real weights, the activation it
received and what it returned.

The calls are caught by wrapping the two classes' ``__call__`` for the length
of the pass (NNX modules are plain Python objects; no hook API exists), so the
model must run eagerly: a layer called under ``nnx.jit`` sees tracers and is
reported as not checked. Flax is channels-last only; a kernel is
(*k, in/groups, out). Leading batch axes other than one are flattened, as Flax
does (``nnx.Conv(c, c, 3)`` is a 1-D conv, whatever the input's rank). Padding:
'SAME', 'VALID', 'CAUSAL', explicit pairs, and 'CIRCULAR'/'REFLECT', which pad
((e-1)//2, e//2) for the dilated kernel extent e. A ConvTranspose calls
``jax.lax.conv_transpose``: its pads are those of the stride-dilated input
(strings sized by JAX's rule), and without ``transpose_kernel=True`` the kernel
(*k, in, out) is not flipped, so the neutral weight is the flipped one.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np

from .adapter import NATIVE_MODES, flax_mode_pads
from ...dtypes import numpy_dtype
from ...layouts import weight_from_spatial_first as conv_weight
from ...spec import ConvSpec, layout_of, transposed_from_dilated_input_padding
from ...porting import ConvLayer, ScannedModel

MODES = {mode: name for name, mode in NATIVE_MODES.items()}  # 'CIRCULAR' -> 'circular'


def _per_axis(value, rank: int) -> tuple[int, ...]:
    value = 1 if value is None else value
    return (value,) * rank if isinstance(value, int) else tuple(value)


def lax_transpose_pads(padding, kernel, strides, dilation) -> tuple[tuple[int, int], ...]:
    """The dilated input's pads ``jax.lax.conv_transpose`` uses for ``padding``:
    pairs as given, 'SAME' and 'VALID' by JAX's own rule for the dilated kernel extent."""
    if not isinstance(padding, str):
        return tuple(map(tuple, padding))
    pads = []
    for k, s, d in zip(kernel, strides, dilation):
        extent = (k - 1) * d + 1
        if padding == "SAME":
            total = extent + s - 2
            before = extent - 1 if s > extent - 1 else math.ceil(total / 2)
        elif padding == "VALID":
            total, before = extent + s - 2 + max(extent - s, 0), extent - 1
        else:
            raise ValueError(f"padding={padding!r}: a ConvTranspose with it is not a spec")
        pads.append((before, total - before))
    return tuple(pads)


def layer_spec(layer, x_shape: tuple[int, ...], dtype: str) -> ConvSpec:
    """The spec of one ``nnx.Conv`` or ``nnx.ConvTranspose`` on a (batch, *spatial, channels) input."""
    from flax import nnx
    from flax.nnx.nn.linear import canonicalize_padding

    rank = len(layer.kernel_size)
    strides, dilation = _per_axis(layer.strides, rank), _per_axis(layer.kernel_dilation, rank)
    common = dict(layout=layout_of(rank, channels_last=True), batch=x_shape[0], in_channels=layer.in_features,
                  out_channels=layer.out_features, spatial=tuple(x_shape[1:-1]), kernel=layer.kernel_size,
                  stride=strides, dilation=dilation, bias=layer.use_bias, dtype=dtype)
    padding = canonicalize_padding(layer.padding, rank)
    if isinstance(layer, nnx.ConvTranspose):
        pads = lax_transpose_pads(padding, layer.kernel_size, strides, dilation)
        crops, extra = transposed_from_dilated_input_padding(layer.kernel_size, dilation, pads)
        return ConvSpec(**common, padding=crops, transposed=True, output_padding=extra)
    if any(d != 1 for d in _per_axis(layer.input_dilation, rank)):
        raise ValueError(f"input_dilation={layer.input_dilation}: a conv of a dilated input is not a spec")
    spec = ConvSpec(**common, padding="valid", groups=layer.feature_group_count)
    if not isinstance(padding, str):
        return spec.replace(padding=tuple(map(tuple, padding)))
    if padding in MODES:
        return spec.replace(padding=flax_mode_pads(spec), padding_mode=MODES[padding])
    return spec.replace(padding=padding.lower())


def layer_weight(layer) -> np.ndarray:
    """The layer's kernel (masked, as it computes) in the neutral order."""
    kernel = np.asarray(layer.kernel[...])
    if layer.mask is not None:
        kernel = kernel * np.asarray(layer.mask)
    return neutral_kernel(layer, kernel)


def neutral_kernel(layer, kernel: np.ndarray) -> np.ndarray:
    """A kernel shaped as ``layer``'s (its value, or its gradient) in the neutral order."""
    from flax import nnx

    if isinstance(layer, nnx.ConvTranspose) and not layer.transpose_kernel:
        r = kernel.ndim - 2  # (*k, in, out), not flipped by JAX: neutral is (in, out, *k) flipped
        moved = np.transpose(kernel, (r, r + 1, *range(r)))
        return np.ascontiguousarray(moved[(slice(None), slice(None), *(slice(None, None, -1),) * r)])
    return conv_weight(kernel)  # (*k, in/groups, out) -> (out, in/groups, *k); transposed (*k, out, in) alike


def _flat_batch(array: np.ndarray, rank: int) -> np.ndarray:
    """Flax's leading batch axes (none, one or several) as one."""
    return array.reshape((-1, *array.shape[array.ndim - rank - 1:]))


@contextlib.contextmanager
def _calls_caught(record):
    """``record(layer, x, y)`` for every nnx.Conv / nnx.ConvTranspose call inside the block."""
    from flax import nnx

    originals = {kind: kind.__call__ for kind in (nnx.Conv, nnx.ConvTranspose)}

    def wrapped(original):
        def __call__(self, inputs, *args, **kwargs):
            y = original(self, inputs, *args, **kwargs)
            record(self, inputs, y)
            return y
        return __call__

    try:
        for kind, original in originals.items():
            kind.__call__ = wrapped(original)
        yield
    finally:
        for kind, original in originals.items():
            kind.__call__ = original


def scan_flax(model, example, *, name: str | None = None, fold_zero_padding: bool = False) -> ScannedModel:
    """``fold_zero_padding`` changes nothing here: Flax has no padding layers (a
    ``jnp.pad`` before a conv is found from the data by compare)."""
    import jax
    from flax import nnx

    if example is None:
        raise ValueError("example: a Flax model needs an example input (return (model, input) or pass --input-shape)")
    names = {id(node): "/".join(map(str, path)) for path, node in nnx.iter_graph(model)
             if isinstance(node, (nnx.Conv, nnx.ConvTranspose))}
    captured: list[ConvLayer] = []

    def record(layer, x, y):
        layer_name = names.get(id(layer)) or type(layer).__name__  # the model itself has the path ''
        kind = f"flax.nnx.{type(layer).__name__}"
        if isinstance(x, jax.core.Tracer) or isinstance(y, jax.core.Tracer):
            captured.append(ConvLayer(layer_name, kind, None, unsupported=(
                "called under a jax transformation (nnx.jit, vmap, ...): run the model eagerly to check it")))
            return
        rank = len(layer.kernel_size)
        y = np.asarray(y)
        dtype = str(y.dtype)
        x = _flat_batch(np.asarray(x), rank).astype(numpy_dtype(dtype))
        try:
            spec = layer_spec(layer, x.shape, dtype)
        except ValueError as exc:  # a layer this spec cannot state: reported, the scan goes on
            captured.append(ConvLayer(layer_name, kind, None, unsupported=str(exc)))
            return
        bias = np.asarray(layer.bias[...]).astype(x.dtype) if layer.use_bias else None
        captured.append(ConvLayer(layer_name, kind, spec, x, layer_weight(layer).astype(x.dtype), bias,
                                  _flat_batch(y, rank)))

    with _calls_caught(record):
        output = model(example)
    return ScannedModel(name or type(model).__name__, "flax", tuple(captured),
                        np.asarray(output) if isinstance(output, (jax.Array, np.ndarray)) else None)
