"""Keras 2 (``tf_keras``, the Keras of TensorFlow code written before Keras 3): model scans
(``scan``) and the porting hooks (``models``). Its layers are no backend here: Keras 3
under TensorFlow runs the same TensorFlow ops."""

from .. import public

BACKENDS: dict[str, dict] = {}
DISTRIBUTIONS = {"tf_keras": "tf-keras"}
PUBLIC: dict[str, str] = {}


def __getattr__(name: str):
    return public(__name__.rpartition(".")[2], name)
