"""The porting hooks for Keras 3 models (``harness.porting.MODEL_HOOKS``)."""

from __future__ import annotations

import sys

import numpy as np

from ...layouts import convert_layout

NAME = "keras"
KIND = "a Keras model"


def recognises(model) -> bool:
    keras = sys.modules.get("keras")
    return keras is not None and isinstance(model, keras.Model)


def scan(model, example, *, name: str | None = None, fold_zero_padding: bool = False):
    from .scan import scan_keras

    return scan_keras(model, example, name=name, fold_zero_padding=fold_zero_padding)


def as_input(array: np.ndarray):
    return array


def channels_last(model, example: np.ndarray, example_last: bool) -> bool:
    """The layout the model's declared input shape fits: the example's own where both or neither fit."""
    wanted = tuple(model.inputs[0].shape[1:])
    other = convert_layout(example, example_last, not example_last).shape[1:]

    def fits(shape):
        return all(w in (None, s) for w, s in zip(wanted, shape))

    return not example_last if (fits(other) and not fits(example.shape[1:])) else example_last


def paste_backend() -> str:
    """Keras under the backend this process runs it on."""
    import keras

    return f"keras.{keras.config.backend()}"


def parameter_gradients(model, example, cotangent) -> dict:
    """``{conv layer name (as the scan names it): (dw, db)}``: the gradients of
    ``sum(model(example) * cotangent)`` with respect to the model's trainable weights,
    by the autodiff of the backend Keras runs on (a tf.GradientTape, jax.vjp of the
    model's stateless call, torch.autograd), the kernel's put in the neutral order;
    None for a weight that gets none (``trainable=False``, or cut off by a
    ``stop_gradient`` downstream of it)."""
    import keras

    from .scan import conv_weight, depthwise_weight

    trainable = list(model.trainable_variables)
    found = dict(zip((v.path for v in trainable), _gradients(keras, model, example, cotangent, trainable)))

    def grad(variable, order=conv_weight):
        value = found.get(variable.path)
        return None if value is None else order(np.asarray(value))

    separable = (keras.layers.SeparableConv1D, keras.layers.SeparableConv2D)
    depthwise = (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)
    grads = {}
    for layer in model._flatten_layers(include_self=False):
        bias = grad(layer.bias, np.asarray) if getattr(layer, "use_bias", False) else None
        if isinstance(layer, separable):
            grads[f"{layer.name}/depthwise"] = (grad(layer.depthwise_kernel, depthwise_weight), None)
            grads[f"{layer.name}/pointwise"] = (grad(layer.pointwise_kernel), bias)
        elif isinstance(layer, depthwise):
            grads[layer.name] = (grad(layer.kernel, depthwise_weight), bias)
        elif isinstance(layer, keras.layers.Layer) and "Conv" in type(layer).__name__ and hasattr(layer, "kernel"):
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
