"""The porting hooks for ONNX models (``harness.porting.MODEL_HOOKS``): an ``onnx.ModelProto``,
or the path of a ``.onnx`` file (a string or a ``pathlib.Path``)."""

from __future__ import annotations

import os

import numpy as np

from ...porting.hooks import instance_of, scanned_by

NAME = "onnx"
KIND = "an ONNX model (an onnx.ModelProto or the path of a .onnx file)"


_model_proto = instance_of("onnx", "ModelProto")
scan = scanned_by(__package__, "scan_onnx")
# as_input, to_numpy, run_substituted: the defaults (an ONNX graph takes and returns NumPy arrays;
# its convs are not substituted here); own_fix too: the graph is exported from code in another
# framework, where the fix belongs, and the generic fix names the node's attributes to change.


def recognises(model) -> bool:
    """Whether ``model`` is an onnx.ModelProto or the path of a .onnx file."""
    if isinstance(model, (str, os.PathLike)):
        return os.fspath(model).lower().endswith(".onnx")
    return _model_proto(model)


def channels_last(model, example: np.ndarray, example_last: bool) -> bool:
    """ONNX's convolutions take channels-first."""
    return False


def paste_backend() -> str:
    return "onnxruntime"
