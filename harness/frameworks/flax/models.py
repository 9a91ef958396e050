"""The porting hooks for Flax NNX models (``harness.porting.MODEL_HOOKS``)."""

from __future__ import annotations

import sys

import numpy as np

NAME = "flax"
KIND = "a flax.nnx.Module"


def recognises(model) -> bool:
    nnx = sys.modules.get("flax.nnx")
    return nnx is not None and isinstance(model, nnx.Module)


def scan(model, example, *, name: str | None = None, fold_zero_padding: bool = False):
    from .scan import scan_flax

    return scan_flax(model, example, name=name, fold_zero_padding=fold_zero_padding)


def as_input(array: np.ndarray):
    return array


def channels_last(model, example: np.ndarray, example_last: bool) -> bool:
    """Flax's convolutions take channels-last."""
    return True


def paste_backend() -> str:
    return "flax"
