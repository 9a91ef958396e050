"""The porting hooks for Keras 2 models (``tf_keras``; ``harness.porting.MODEL_HOOKS``)."""

from __future__ import annotations

import numpy as np

from ...porting.hooks import instance_of, scanned_by

NAME = "tf_keras"
KIND = "a Keras 2 (tf_keras) model"


recognises = instance_of("tf_keras", "Model")
scan = scanned_by(__package__, "scan_tf_keras")
# as_input and run_substituted: the defaults (a Keras 2 model takes NumPy; its convs are not substituted here)


def channels_last(model, example: np.ndarray, example_last: bool) -> bool:
    """A functional or sequential model: the layout its declared input shape fits, as for Keras 3;
    a subclassed one (no declared input): its first conv layer's data_format."""
    if getattr(model, "inputs", None):
        from ..keras import channels_last as declared

        return declared(model, example, example_last)
    from .scan import conv_layers

    first = next(iter(conv_layers(model)), None)
    return example_last if first is None else first.data_format == "channels_last"


def paste_backend() -> str:
    """TensorFlow's own call: every Keras 2 install has it (Keras 3 may be absent)."""
    return "tensorflow"


def to_numpy(value) -> np.ndarray | None:
    """A TensorFlow tensor (what a Keras 2 model returns) as NumPy; None for anything else."""
    from ..keras import to_numpy as keras_to_numpy

    return keras_to_numpy(value)


def own_fix(mistake: str, source, target) -> str:
    """The fix in the terms of Keras 2's layers (``tf_keras.layers``)."""
    from ..keras import keras_fix

    return keras_fix(mistake, source, target, layers="tf_keras.layers")


def parameter_gradients(model, example, cotangent) -> dict:
    """``{conv layer name (as the scan names it): (dw, db)}``: the gradients of
    ``sum(model(example) * cotangent)`` by a ``tf.GradientTape`` over the model's
    ``trainable_variables``, the kernels' in the neutral order (Keras 3's ``conv_gradients``:
    the layers and attributes are named alike); None for a weight that gets none
    (``trainable=False``, or cut off by a ``tf.stop_gradient`` downstream of it)."""
    import tensorflow as tf
    import tf_keras

    from ..keras import conv_gradients

    trainable = list(model.trainable_variables)
    with tf.GradientTape() as tape:
        y = model(example, training=False)
    found = tape.gradient(y, trainable, output_gradients=tf.constant(cotangent, y.dtype))
    by_variable = {v.ref(): g for v, g in zip(trainable, found)}
    return conv_gradients(model, tf_keras, lambda variable: by_variable.get(variable.ref()))
