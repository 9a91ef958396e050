"""The porting hooks for ONNX models (``harness.porting.MODEL_HOOKS``): an ``onnx.ModelProto``,
or the path of a ``.onnx`` file (a string or a ``pathlib.Path``)."""

from __future__ import annotations

import os
import sys

import numpy as np

NAME = "onnx"
KIND = "an ONNX model (an onnx.ModelProto or the path of a .onnx file)"


def recognises(model) -> bool:
    if isinstance(model, (str, os.PathLike)):
        return os.fspath(model).lower().endswith(".onnx")
    onnx = sys.modules.get("onnx")
    return onnx is not None and isinstance(model, onnx.ModelProto)


def scan(model, example, *, name: str | None = None, fold_zero_padding: bool = False):
    from .scan import scan_onnx

    return scan_onnx(model, example, name=name, fold_zero_padding=fold_zero_padding)


def as_input(array: np.ndarray):
    return array


def channels_last(model, example: np.ndarray, example_last: bool) -> bool:
    """ONNX's convolutions take channels-first."""
    return False


def paste_backend() -> str:
    return "onnxruntime"


def to_numpy(value) -> np.ndarray | None:
    """None: an ONNX graph takes and returns NumPy arrays, which need no converting."""
    return None


def run_substituted(model, example, outputs: dict):
    """None: the graph's convs are not substituted here, so a later pair whose input differs
    says the difference may be inherited."""
    return None


def own_fix(mistake: str, source, target) -> str:
    """"": an ONNX graph is exported from code in another framework, where the fix belongs; the
    generic fix names the node's attributes to change."""
    return ""
