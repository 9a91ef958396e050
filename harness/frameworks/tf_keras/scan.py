"""Scan a Keras 2 (``tf_keras``) model: every Conv1D/2D/3D, Conv*DTranspose,
DepthwiseConv1D/2D and SeparableConv1D/2D call of one eager forward pass, with
the layer's real weights, the activation it received and what it returned.

Keras 2 subclassed models have no graph to read (``layer.input`` is not defined
for layers called inside ``call``), so the calls are caught: each class's own
``call`` is wrapped for the length of the pass (``calls_caught``). That sees functional,
sequential, subclassed and nested models alike. A ZeroPadding1D/2D/3D layer
whose output is the conv's input is folded in. What a call computed becomes
specs exactly as for Keras 3 (``harness.frameworks.keras``: its layers and
attributes are named alike); a layer called inside a ``tf.function`` sees
symbolic tensors and is listed as not checked.
"""

from __future__ import annotations

import numpy as np

from ...porting import ConvLayer, ScannedModel, calls_caught
from ..keras import conv_kinds, convolutions, refusals_raised, zero_pads

IN_GRAPH = "called inside a tf.function (graph mode): call the model eagerly to check it"


def conv_layers(model) -> list:
    """The conv layers ``model`` holds, nested models included, in the order Keras lists them."""
    import tf_keras

    return [layer for layer in model._flatten_layers(include_self=False) if isinstance(layer, conv_kinds(tf_keras))]


def scan_tf_keras(model, example=None, *, name: str | None = None, fold_zero_padding: bool = False) -> ScannedModel:
    import tensorflow as tf
    import tf_keras

    name = name or model.name
    if example is None:
        if not getattr(model, "inputs", None):
            raise ValueError("example: a subclassed Keras 2 model needs an example input "
                             "(return (model, input) or pass --input-shape)")
        shape = [1 if d is None else d for d in model.inputs[0].shape]
        example = np.random.default_rng(0).uniform(-1.0, 1.0, size=shape).astype(model.inputs[0].dtype.name)
    convs, padders = [], {}  # padders: id of a ZeroPadding output -> (that output, its input, the layer)

    def record(layer, inputs, outputs):
        if isinstance(layer, conv_kinds(tf_keras)):
            convs.append((layer, inputs, outputs, tf.executing_eagerly()))
        else:
            padders[id(outputs)] = (outputs, inputs, layer)

    kinds = conv_kinds(tf_keras) + (() if not fold_zero_padding else (
        tf_keras.layers.ZeroPadding1D, tf_keras.layers.ZeroPadding2D, tf_keras.layers.ZeroPadding3D))
    with refusals_raised(tf_keras, name), calls_caught(kinds, "call", record):
        output = model(example, training=False)
    captured: list[ConvLayer] = []
    traced: set[int] = set()  # a tf.function may trace a layer more than once: listed once
    for layer, x, y, eager in convs:
        kind = f"tf_keras.layers.{type(layer).__name__}"
        if not eager:
            if id(layer) not in traced:
                traced.add(id(layer))
                captured.append(ConvLayer(layer.name, kind, None, unsupported=IN_GRAPH))
            continue
        padder = padders.get(id(x))
        pads = zero_pads(padder[2], layer, tf_keras) if padder and padder[0] is x else None
        captured += convolutions(layer, x.numpy(), y.numpy(), tf_keras, framework="tf_keras",
                                 padded=(padder[1].numpy(), pads) if pads else None)
    single = tf.is_tensor(output)  # the model's own output, where it is one array
    return ScannedModel(name, "tf_keras", tuple(captured), output.numpy() if single else None)
