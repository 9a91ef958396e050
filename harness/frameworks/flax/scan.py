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
import functools
import math
import types

import numpy as np

from .adapter import NATIVE_MODES, flax_mode_pads
from ...dtypes import numpy_dtype
from ...layouts import weight_from_spatial_first as conv_weight
from ...spec import ConvSpec, layout_of, transposed_from_dilated_input_padding
from ...porting import ConvLayer, ScannedModel, calls_caught

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


def conv_spec(x_shape: tuple[int, ...], dtype: str, *, transposed: bool, in_channels: int, out_channels: int,
              kernel_size, strides, dilation, padding, bias: bool, groups: int = 1, input_dilation=None) -> ConvSpec:
    """The spec of a Flax conv (NNX or linen: the same attributes, the same ``jax.lax`` call) on a
    (batch, *spatial, channels) input; ``padding`` as ``canonicalize_padding`` gives it."""
    rank = len(kernel_size)
    strides, dilation = _per_axis(strides, rank), _per_axis(dilation, rank)
    common = dict(layout=layout_of(rank, channels_last=True), batch=x_shape[0], in_channels=in_channels,
                  out_channels=out_channels, spatial=tuple(x_shape[1:-1]), kernel=tuple(kernel_size),
                  stride=strides, dilation=dilation, bias=bias, dtype=dtype)
    if transposed:
        pads = lax_transpose_pads(padding, kernel_size, strides, dilation)
        crops, extra = transposed_from_dilated_input_padding(kernel_size, dilation, pads)
        return ConvSpec(**common, padding=crops, transposed=True, output_padding=extra)
    if any(d != 1 for d in _per_axis(input_dilation, rank)):
        raise ValueError(f"input_dilation={input_dilation}: a conv of a dilated input is not a spec")
    spec = ConvSpec(**common, padding="valid", groups=groups)
    if not isinstance(padding, str):
        return spec.replace(padding=tuple(map(tuple, padding)))
    if padding in MODES:
        return spec.replace(padding=flax_mode_pads(spec), padding_mode=MODES[padding])
    return spec.replace(padding=padding.lower())


def layer_spec(layer, x_shape: tuple[int, ...], dtype: str) -> ConvSpec:
    """The spec of one ``nnx.Conv`` or ``nnx.ConvTranspose`` on a (batch, *spatial, channels) input."""
    from flax import nnx
    from flax.nnx.nn.linear import canonicalize_padding

    return conv_spec(x_shape, dtype, transposed=isinstance(layer, nnx.ConvTranspose), in_channels=layer.in_features,
                     out_channels=layer.out_features, kernel_size=layer.kernel_size, strides=layer.strides,
                     dilation=layer.kernel_dilation, padding=canonicalize_padding(layer.padding, len(layer.kernel_size)),
                     bias=layer.use_bias, groups=getattr(layer, "feature_group_count", 1),
                     input_dilation=getattr(layer, "input_dilation", None))


def neutral_weight(kernel: np.ndarray, mask, *, flipped_transpose: bool = False) -> np.ndarray:
    """A Flax kernel (masked, as it computes) in the neutral order; ``flipped_transpose`` for a
    ConvTranspose without ``transpose_kernel``."""
    kernel = np.asarray(kernel)
    if mask is not None:
        kernel = kernel * np.asarray(mask)
    if flipped_transpose:
        r = kernel.ndim - 2  # (*k, in, out), not flipped by JAX: neutral is (in, out, *k) flipped
        moved = np.transpose(kernel, (r, r + 1, *range(r)))
        return np.ascontiguousarray(moved[(slice(None), slice(None), *(slice(None, None, -1),) * r)])
    return conv_weight(kernel)  # (*k, in/groups, out) -> (out, in/groups, *k); transposed (*k, out, in) alike


def layer_weight(layer) -> np.ndarray:
    """An NNX layer's kernel (masked, as it computes) in the neutral order."""
    from flax import nnx

    return neutral_weight(layer.kernel[...], layer.mask,
                          flipped_transpose=isinstance(layer, nnx.ConvTranspose) and not layer.transpose_kernel)


def _flat_batch(array: np.ndarray, rank: int) -> np.ndarray:
    """Flax's leading batch axes (none, one or several) as one."""
    return array.reshape((-1, *array.shape[array.ndim - rank - 1:]))


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

    with calls_caught((nnx.Conv, nnx.ConvTranspose), "__call__", record):
        output = model(example)
    return ScannedModel(name or type(model).__name__, "flax", tuple(captured),
                        np.asarray(output) if isinstance(output, (jax.Array, np.ndarray)) else None)


# -- Flax linen ---------------------------------------------------------------------------

def linen_modules(model, linen, depth: int = 3):
    """The linen Modules that ``model`` holds: itself, a partial's function and arguments, a bound
    method's object, a jitted or wrapped function's original, a closure's cells, an object's
    attributes (``depth`` levels down)."""
    seen: set[int] = set()
    todo = [(model, 0)]
    while todo:
        value, level = todo.pop()
        if id(value) in seen or level > depth or isinstance(value, types.ModuleType):
            continue  # not modules (a builtin's __self__ is one): their namespaces reach everything
        seen.add(id(value))
        if isinstance(value, linen.Module):
            yield value
            continue
        inner = [getattr(value, "__self__", None), getattr(value, "__wrapped__", None)]
        if isinstance(value, functools.partial):
            inner += [value.func, *value.args, *value.keywords.values()]
        if isinstance(value, types.FunctionType):
            for cell in value.__closure__ or ():
                with contextlib.suppress(ValueError):  # a cell not yet filled
                    inner.append(cell.cell_contents)
        elif not isinstance(value, type) and isinstance(getattr(value, "__dict__", None), dict):
            inner += list(vars(value).values())
        todo += [(v, level + 1) for v in inner if v is not None]


def linen_name(module) -> str:
    """A bound linen module's name in the scan: its module path."""
    return "/".join(map(str, module.path)) or type(module).__name__


def linen_conv(module, nn) -> str | None:
    """'' for a linen Conv or ConvTranspose; why not for another conv-like linen module; None otherwise."""
    if isinstance(module, nn.ConvLocal):
        return "a locally connected conv (a kernel per output position) is not a spec"
    if isinstance(module, (nn.Conv, nn.ConvTranspose)):
        return ""
    kind = type(module)
    if "Conv" in kind.__name__ and kind.__module__.startswith("flax."):
        return f"flax.linen.{kind.__name__} is not a Conv or ConvTranspose: its computation is not checked here"
    return None


def scan_linen(model, example, *, name: str | None = None, fold_zero_padding: bool = False) -> ScannedModel:
    """Every ``flax.linen.Conv`` and ``ConvTranspose`` call of ``model(example)``, caught with
    ``flax.linen.intercept_methods`` (which sees each module call, whoever holds the parameters)
    and run with ``jax.disable_jit()`` so that a wrapper that jits its apply runs eagerly: each
    layer's kernel and bias are read from its variables at the call; its name is its module path.
    ``fold_zero_padding`` changes nothing: linen has no padding modules (a ``jnp.pad`` before a
    conv is found from the data by compare)."""
    import jax
    import flax.linen as nn
    from flax.linen.linear import canonicalize_padding

    if example is None:
        raise ValueError("example: a Flax model needs an example input (return (model, input) or pass --input-shape)")
    if isinstance(model, nn.Module) and model.scope is None:
        raise ValueError(f"model: the flax.linen.{type(model).__name__} is not bound to its variables: pass "
                         "module.bind(variables) or functools.partial(module.apply, variables)")
    captured: list[ConvLayer] = []

    def record(module, x, y, why: str):
        layer_name = linen_name(module)
        kind = f"flax.linen.{type(module).__name__}"
        if why:
            captured.append(ConvLayer(layer_name, kind, None, unsupported=why))
            return
        if isinstance(x, jax.core.Tracer) or isinstance(y, jax.core.Tracer):
            captured.append(ConvLayer(layer_name, kind, None, unsupported=(
                "called under a jax transformation (nn.scan, nn.vmap, ...): run the model eagerly to check it")))
            return
        params = nn.meta.unbox(module.variables["params"])
        kernel = np.asarray(params["kernel"])
        rank = kernel.ndim - 2
        y = np.asarray(y)
        dtype = str(y.dtype)
        x = _flat_batch(np.asarray(x), rank).astype(numpy_dtype(dtype))
        transposed = isinstance(module, nn.ConvTranspose)
        try:
            spec = conv_spec(x.shape, dtype, transposed=transposed, in_channels=x.shape[-1],
                             out_channels=module.features, kernel_size=kernel.shape[:rank], strides=module.strides,
                             dilation=module.kernel_dilation, padding=canonicalize_padding(module.padding, rank),
                             bias=module.use_bias, groups=getattr(module, "feature_group_count", 1),
                             input_dilation=getattr(module, "input_dilation", None))
        except ValueError as exc:  # a layer this spec cannot state: reported, the scan goes on
            captured.append(ConvLayer(layer_name, kind, None, unsupported=str(exc)))
            return
        w = neutral_weight(kernel, module.mask, flipped_transpose=transposed and not module.transpose_kernel)
        bias = np.asarray(params["bias"]).astype(x.dtype) if module.use_bias else None
        captured.append(ConvLayer(layer_name, kind, spec, x, w.astype(x.dtype), bias, _flat_batch(y, rank)))

    def intercept(next_fun, args, kwargs, context):
        y = next_fun(*args, **kwargs)
        why = linen_conv(context.module, nn) if context.method_name == "__call__" else None
        if why is not None:
            record(context.module, args[0], y, why)
        return y

    with jax.disable_jit(), nn.intercept_methods(intercept):
        output = model(example)
    return ScannedModel(name or type(model).__name__, "flax", tuple(captured),
                        np.asarray(output) if isinstance(output, (jax.Array, np.ndarray)) else None)
