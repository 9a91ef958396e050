"""The porting hooks for Keras 3 models (``harness.porting.MODEL_HOOKS``)."""

from __future__ import annotations

import contextlib
import sys

import numpy as np

from ...layouts import convert_layout
from ...porting.hooks import instance_of, scanned_by

NAME = "keras"
KIND = "a Keras model"
CONVS = ("Conv1D", "Conv2D", "Conv3D", "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D",
         "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose")


recognises = instance_of("keras", "Model")
scan = scanned_by(__package__, "scan_keras")
# as_input: the default (a Keras model takes NumPy)


def to_numpy(value) -> np.ndarray | None:
    """A tensor of Keras' backend (or a TensorFlow tensor) as NumPy; None for anything else."""
    tf, keras = sys.modules.get("tensorflow"), sys.modules.get("keras")
    if tf is not None and isinstance(value, tf.Tensor):
        return np.asarray(value.numpy())
    if keras is not None and not isinstance(value, np.ndarray) and keras.ops.is_tensor(value):
        return np.asarray(keras.ops.convert_to_numpy(value))
    return None


def channels_last(model, example: np.ndarray, example_last: bool) -> bool | None:
    """The layout the model's declared input shape fits where exactly one of the example's two
    layouts fits it; else its first conv layer's ``data_format``; else the declared input's layout
    where both fit (the example's own); None where nothing tells (no declared input, no conv layer)."""
    import keras

    wanted = tuple(model.inputs[0].shape[1:]) if getattr(model, "inputs", None) else None
    if wanted is not None:
        def fits(shape):
            return len(wanted) == len(shape) and all(w in (None, s) for w, s in zip(wanted, shape))

        own, other = fits(example.shape[1:]), fits(convert_layout(example, example_last, not example_last).shape[1:])
        if own != other:
            return example_last if own else not example_last
    convs = conv_layers(model, keras)
    if convs:
        return convs[0].data_format == "channels_last"
    return None if wanted is None else example_last


def paste_backend() -> str:
    """Keras under the backend this process runs it on."""
    import keras

    return f"keras.{keras.config.backend()}"


def conv_layers(model, keras) -> list:
    """Every conv layer of ``model``, nested models' and subclassed models' included."""
    kinds = tuple(getattr(keras.layers, name) for name in CONVS)
    found = []
    for layer in getattr(model, "layers", ()):
        if isinstance(layer, kinds):
            found.append(layer)
        elif getattr(layer, "layers", None):
            found += conv_layers(layer, keras)
    return found


def run_substituted(model, example, outputs: dict):
    """One forward pass in which each conv layer named in ``outputs`` returns its activation of that
    array (the given array is the convolution's own result: the layer's fused activation is the
    model's, between the convs) instead of computing: ({layer name: the input it got}, the output).
    The layers' ``call`` is replaced on the instances for the pass and restored after."""
    import keras

    inputs: dict[str, np.ndarray] = {}

    def replaced(layer):
        own = layer.call

        def call(x, *args, **kwargs):
            inputs[layer.name] = np.asarray(keras.ops.convert_to_numpy(x))
            given = outputs.get(layer.name)
            if given is None:
                return own(x, *args, **kwargs)
            return layer.activation(keras.ops.convert_to_tensor(np.asarray(given), dtype=layer.compute_dtype))
        return call

    with contextlib.ExitStack() as stack:
        for layer in conv_layers(model, keras):
            layer.call = replaced(layer)
            stack.callback(delattr, layer, "call")
        output = model(example, training=False)
    return inputs, output


def own_fix(mistake: str, source, target) -> str:
    """The fix in Keras' terms (``keras_fix``)."""
    return keras_fix(mistake, source, target)


def keras_fix(mistake: str, source, target, layers: str = "keras.layers") -> str:
    """The fix in the terms of Keras' layers (``layers``: the module that holds them): a padding a
    Keras conv cannot take as ``ZeroPaddingND`` then ``padding='valid'`` ('same' or 'valid' where
    one of them is it); a transposed kernel taken without a flip. "" where the generic fix says it."""
    layer = f"{layers}.Conv{target.rank}D{'Transpose' if target.transposed else ''}"
    if mistake == "padding" and not target.transposed:
        pads = source.explicit_padding
        for name in ("valid", "same"):
            if target.replace(padding=name).explicit_padding == pads:
                return f"fix: give the {layer} padding='{name}'"
        given = pads[0] if target.rank == 1 else pads
        data_format = "" if target.channels_last else ", data_format='channels_first'"
        return (f"fix: put {layers}.ZeroPadding{target.rank}D({given}{data_format}) before the {layer} "
                f"and give it padding='valid'")
    if mistake in ("transposed_kernel_not_flipped", "flipped_kernel") and target.transposed:
        order = ", ".join(map(str, (*range(2, 2 + target.rank), 1, 0)))
        return (f"fix: a {layer} takes a PyTorch ConvTranspose weight (in, out, *k) as w.transpose({order}), "
                f"(*k, out, in), without flipping its spatial axes")
    return ""


def parameter_gradients(model, example, cotangent) -> dict:
    """``{conv layer name (as the scan names it): (dw, db)}``: the gradients of
    ``sum(model(example) * cotangent)`` with respect to the model's trainable weights,
    by the autodiff of the backend Keras runs on (a tf.GradientTape, jax.vjp of the
    model's stateless call, torch.autograd), the kernel's put in the neutral order;
    None for a weight that gets none (``trainable=False``, or cut off by a
    ``stop_gradient`` downstream of it)."""
    import keras

    trainable = list(model.trainable_variables)
    found = dict(zip((v.path for v in trainable), _gradients(keras, model, example, cotangent, trainable)))
    return conv_gradients(model, keras, lambda variable: found.get(variable.path))


def conv_gradients(model, keras, gradient) -> dict:
    """``{conv layer name (as the scan of ``keras``, Keras 3 or Keras 2's ``tf_keras``, names
    it): (dw, db)}`` of the conv layers ``model`` holds, nested ones included, ``gradient``
    giving one weight variable's gradient (None where it gets none), the kernels' put in the
    neutral order; a separable conv's depthwise and pointwise kernels apart, as the scan splits them."""
    from .scan import conv_kinds, conv_weight, depthwise_weight

    def grad(variable, order=conv_weight):
        value = gradient(variable)
        return None if value is None else order(np.asarray(value))

    separable = (keras.layers.SeparableConv1D, keras.layers.SeparableConv2D)
    depthwise = (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)
    grads = {}
    for layer in model._flatten_layers(include_self=False):
        if not isinstance(layer, conv_kinds(keras)):
            continue
        bias = grad(layer.bias, np.asarray) if layer.use_bias else None
        if isinstance(layer, separable):
            grads[f"{layer.name}/depthwise"] = (grad(layer.depthwise_kernel, depthwise_weight), None)
            grads[f"{layer.name}/pointwise"] = (grad(layer.pointwise_kernel), bias)
        elif isinstance(layer, depthwise):
            kernel = layer.depthwise_kernel if hasattr(layer, "depthwise_kernel") else layer.kernel  # Keras 2, 3
            grads[layer.name] = (grad(kernel, depthwise_weight), bias)
        else:
            grads[layer.name] = (grad(layer.kernel), bias)
    return grads


def _gradients(keras, model, example, cotangent, variables) -> list:
    """The vector-Jacobian product of ``model`` at ``example`` with ``cotangent`` for each of ``variables``."""
    backend = keras.config.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            y = model(example, training=False)
        return tape.gradient(y, [v.value for v in variables], output_gradients=tf.constant(cotangent, y.dtype))
    if backend == "jax":
        import jax

        fixed = [v.value for v in model.non_trainable_variables]

        def forward(values):
            return model.stateless_call(values, fixed, example, training=False)[0]

        y, pull_back = jax.vjp(forward, [v.value for v in variables])
        return pull_back(jax.numpy.asarray(cotangent, y.dtype))[0]
    if backend == "torch":
        import torch

        y = model(example, training=False)
        dy = torch.as_tensor(np.asarray(cotangent), dtype=y.dtype, device=y.device)
        return list(torch.autograd.grad(y, [v.value for v in variables], dy, allow_unused=True))
    raise ValueError(f"keras backend {backend}: compare --grad differentiates Keras on tensorflow, jax or torch")
