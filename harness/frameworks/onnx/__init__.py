"""ONNX: a spec as a one-node graph run in onnxruntime (``adapter``), scans of ONNX graphs
run in onnxruntime (``scan``) and the porting hooks (``models``)."""

from .. import public

BACKENDS = {"onnxruntime": {"adapter": "OnnxRuntime", "requires": "onnx,onnxruntime", "extra": "onnx"}}
DISTRIBUTIONS = {"onnx": "onnx", "onnxruntime": "onnxruntime"}
PUBLIC: dict[str, str] = {}


def __getattr__(name: str):
    return public(__name__.rpartition(".")[2], name)
