"""Scan a Keras 3 model: Conv1D/2D/3D, DepthwiseConv1D/2D and SeparableConv1D/2D
with their real weights and the activations they received in one forward pass.
What one layer computed becomes specs in ``convolutions``, which takes the keras
module as an argument: Keras 2 (``tf_keras``, its own package) names its layers
and attributes alike and uses it too.

Keras kernels are (*kernel, in/groups, out); a depthwise kernel is
(*kernel, in, multiplier) and its output channel c*multiplier + m comes from
input channel c: in the neutral grouped order (groups = in) that is weight
row c*multiplier + m, so the kernel is moved to (in, multiplier, *kernel) and
reshaped to (in*multiplier, 1, *kernel). A separable conv is its depthwise
spec (no bias) followed by a pointwise 1x1 spec (with the bias).
A Conv1D/2D/3DTranspose kernel is (*kernel, out, in), neutral (in, out, *kernel);
its output follows Keras' own size rule (``transposed_crop``).
"""

from __future__ import annotations

import contextlib
import re

import numpy as np

from ...backends.base import first_line
from .adapter import TENSORFLOW_REFUSALS, transposed_crop
from ..tensorflow import without_op_name
from ...dtypes import numpy_dtype
from ...layouts import weight_from_spatial_first as conv_weight
from ...reference import reference
from ...spec import ConvSpec, layout_of
from ...porting import CannotRunHere, ConvLayer, ScannedModel, fold_padding


def _value(variable, dtype: str) -> np.ndarray:
    return np.asarray(variable.numpy(), dtype=np.float64).astype(numpy_dtype(dtype))


def depthwise_weight(kernel: np.ndarray) -> np.ndarray:
    """Keras depthwise (*k, in, multiplier) -> neutral grouped (in*multiplier, 1, *k), channel-major."""
    r = kernel.ndim - 2
    channels, multiplier = kernel.shape[-2:]
    moved = np.transpose(kernel, (r, r + 1, *range(r)))  # (in, multiplier, *k)
    return np.ascontiguousarray(moved.reshape(channels * multiplier, 1, *kernel.shape[:r]))


def _spec(layer, x_shape, *, out_channels, groups, kernel, strides, padding, bias, dtype) -> ConvSpec:
    rank = len(x_shape) - 2
    layout = layout_of(rank, layer.data_format == "channels_last")
    channels_last = layout.endswith("C")
    return ConvSpec(
        layout=layout, batch=x_shape[0], in_channels=x_shape[-1] if channels_last else x_shape[1],
        out_channels=out_channels, spatial=tuple(x_shape[1:-1] if channels_last else x_shape[2:]),
        kernel=kernel, stride=strides, dilation=layer.dilation_rate, padding=padding, groups=groups,
        bias=bias, dtype=dtype,
    )


def _transposed_spec(layer, x_shape, dtype) -> ConvSpec:
    rank = len(x_shape) - 2
    given = layer.output_padding
    output_padding = (None,) * rank if given is None else given
    crops = [transposed_crop(k, s, d, layer.padding, p) for k, s, d, p in zip(
        layer.kernel_size, layer.strides, layer.dilation_rate, output_padding)]
    return _spec(layer, x_shape, out_channels=layer.filters, groups=1, kernel=layer.kernel_size,
                 strides=layer.strides, padding=tuple(crop for crop, _ in crops), bias=layer.use_bias,
                 dtype=dtype).replace(transposed=True, output_padding=tuple(extra for _, extra in crops))


def conv_kinds(keras) -> tuple[type, ...]:
    """The layer classes of ``keras`` (Keras 3, or Keras 2's ``tf_keras``) that the scan captures."""
    layers = keras.layers
    return (layers.Conv1D, layers.Conv2D, layers.Conv3D, layers.DepthwiseConv1D, layers.DepthwiseConv2D,
            layers.SeparableConv1D, layers.SeparableConv2D, layers.Conv1DTranspose, layers.Conv2DTranspose,
            layers.Conv3DTranspose)


def zero_padding_kinds(keras) -> tuple[type, ...]:
    return keras.layers.ZeroPadding1D, keras.layers.ZeroPadding2D, keras.layers.ZeroPadding3D


def _layers(model, keras):
    kinds = conv_kinds(keras)
    found, nested = [], []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            nested.append(layer)
        elif isinstance(layer, kinds):
            found.append(layer)
    return found, nested


def zero_pads(producer, layer, keras) -> tuple[tuple[int, int], ...] | None:
    """The (before, after) pairs of ``producer`` where it is a ZeroPadding1D/2D/3D layer
    that pads in ``layer``'s data format, else None."""
    if not isinstance(producer, zero_padding_kinds(keras)) \
            or getattr(producer, "data_format", "channels_last") != layer.data_format:
        return None
    one_d = isinstance(producer, keras.layers.ZeroPadding1D)
    return (tuple(producer.padding),) if one_d else tuple(map(tuple, producer.padding))


def zero_padding_before(layer, keras):
    """The ZeroPadding1D/2D/3D layer that produces ``layer``'s input, with its
    (before, after) pairs, or None."""
    history = getattr(layer.input, "_keras_history", None)
    producer = getattr(history, "operation", None) or getattr(history, "layer", None)  # Keras 3, Keras 2
    pads = zero_pads(producer, layer, keras)
    return None if pads is None else (producer, pads)


def _own_output(layer, x, y, keras):
    """The layer's convolution (and bias) on ``x``, without its activation."""
    if layer.activation is keras.activations.linear:
        return y
    activation = layer.activation
    layer.activation = keras.activations.linear
    try:
        return np.asarray(layer(x, training=False))
    finally:
        layer.activation = activation


def cannot_run_here(keras, exc: BaseException):
    """The declared refusal of Keras on TensorFlow, probed on the machine, that ``exc`` is (a
    channels-first layer on TensorFlow's Eigen CPU kernels, say), or None; only under Keras'
    TensorFlow backend. A refusal that shows everywhere is no fault of this machine."""
    if keras.backend.backend() != "tensorflow":
        return None
    text = str(exc)
    return next((r for r in TENSORFLOW_REFUSALS if r.probed and re.search(r.pattern, text)), None)


def convolutions(layer, x, y, keras, *, padded=None, framework: str = "keras") -> list[ConvLayer]:
    """What one conv layer of ``keras`` (Keras 3, or Keras 2's ``tf_keras``) computed on
    ``x``, giving ``y``, as specs: one, or two for a separable conv. ``padded`` is
    (the input before a ZeroPadding layer, its pads) where one feeds the layer: folded in."""
    dtype = layer.compute_dtype
    x = np.asarray(x).astype(numpy_dtype(dtype))
    bias = _value(layer.bias, dtype) if layer.use_bias else None
    common = dict(strides=layer.strides, padding=layer.padding, dtype=dtype)
    kind = f"{framework}.layers.{type(layer).__name__}"
    if isinstance(layer, (keras.layers.SeparableConv1D, keras.layers.SeparableConv2D)):
        w_dw = depthwise_weight(_value(layer.depthwise_kernel, dtype))
        spec_dw = _spec(layer, x.shape, out_channels=w_dw.shape[0], groups=w_dw.shape[0] // layer.depth_multiplier,
                        kernel=layer.kernel_size, bias=False, **common)
        middle = reference(spec_dw, x, w_dw, None).astype(x.dtype)
        w_pw = conv_weight(_value(layer.pointwise_kernel, dtype))
        spec_pw = _spec(layer, middle.shape, out_channels=w_pw.shape[0], groups=1, kernel=1, strides=1,
                        padding="valid", bias=layer.use_bias, dtype=dtype).replace(dilation=1)
        # the model's own output follows its own depthwise result, not this rounded one: not compared
        return [ConvLayer(f"{layer.name}/depthwise", kind, spec_dw, x, w_dw, None),
                ConvLayer(f"{layer.name}/pointwise", kind, spec_pw, middle, w_pw, bias)]
    if isinstance(layer, (keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose,
                          keras.layers.Conv3DTranspose)):
        w = conv_weight(_value(layer.kernel, dtype))  # (*k, out, in) -> (in, out, *k)
        spec = _transposed_spec(layer, x.shape, dtype)
    elif isinstance(layer, (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)):
        kernel = layer.depthwise_kernel if hasattr(layer, "depthwise_kernel") else layer.kernel  # Keras 2, 3
        w = depthwise_weight(_value(kernel, dtype))
        spec = _spec(layer, x.shape, out_channels=w.shape[0], groups=w.shape[0] // layer.depth_multiplier,
                     kernel=layer.kernel_size, bias=layer.use_bias, **common)
    else:
        w = conv_weight(_value(layer.kernel, dtype))
        spec = _spec(layer, x.shape, out_channels=layer.filters, groups=layer.groups,
                     kernel=layer.kernel_size, bias=layer.use_bias, **common)
    own = _own_output(layer, x, y, keras).astype(x.dtype)
    folded = fold_padding(spec, padded[1]) if padded else None
    if folded is not None:
        spec, x = folded, np.asarray(padded[0]).astype(x.dtype)
    return [ConvLayer(layer.name, kind, spec, x, w, bias, own)]


@contextlib.contextmanager
def refusals_raised(keras, name: str):
    """A run of model ``name``: a declared refusal probed on this machine, raised inside,
    becomes ``CannotRunHere`` naming it (``cannot_run_here``)."""
    try:
        yield
    except Exception as exc:
        refused = cannot_run_here(keras, exc)
        if refused is None:
            raise
        raise CannotRunHere(f"model {name}: cannot run on this machine ({refused.reason}): "
                            f"{without_op_name(first_line(exc))}") from exc


def scan_keras(model, example=None, *, name: str | None = None, fold_zero_padding: bool = False) -> ScannedModel:
    import keras

    layers, nested = _layers(model, keras)
    if example is None:
        shape = [1 if d is None else d for d in model.inputs[0].shape]
        example = np.random.default_rng(0).uniform(-1.0, 1.0, size=shape).astype(model.inputs[0].dtype)
    before = [zero_padding_before(layer, keras) if fold_zero_padding else None for layer in layers]
    single = len(model.outputs) == 1  # the model's own output is kept where it is one array
    extractor = keras.Model(model.inputs, [t for layer, pad in zip(layers, before)
                                           for t in (layer.input, layer.output, (pad[0] if pad else layer).input)]
                            + list(model.outputs[:single]))
    with refusals_raised(keras, name or model.name):
        values = extractor([example], training=False)
    values = [np.asarray(v) for v in (values if isinstance(values, (list, tuple)) else [values])]
    captured: list[ConvLayer] = []
    for i, layer in enumerate(layers):
        x, y, unpadded = values[3 * i: 3 * i + 3]
        captured += convolutions(layer, x, y, keras, padded=(unpadded, before[i][1]) if before[i] else None)
    for inner in nested:
        captured.append(ConvLayer(inner.name, f"keras model {type(inner).__name__}", None,
                                  unsupported="a nested model: scan it on its own (harness.porting.scan(inner))"))
    return ScannedModel(name or model.name, "keras", tuple(captured), values[-1] if single else None)
