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
