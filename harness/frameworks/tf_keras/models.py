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
