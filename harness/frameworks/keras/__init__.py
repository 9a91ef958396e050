"""Keras 3: its layers under each Keras backend (``adapter``), each run in a worker process
(``worker``), Keras' own rules such as its transposed output size (``semantics``), model
scans (``scan``) and the porting hooks (``models``)."""

from .. import public

BACKENDS = {
    f"keras.{backend}": {"adapter": f"Keras{title}", "requires": f"keras,{backend}", "extra": "keras", "default": False}
    for backend, title in (("tensorflow", "TensorFlow"), ("jax", "Jax"), ("torch", "Torch"))
}
PUBLIC = {"keras_release": "adapter", "keras_fix": "models", "to_numpy": "models", "conv_kinds": "scan", "zero_pads": "scan", "convolutions": "scan",
          "refusals_raised": "scan", "channels_last": "models", "conv_gradients": "models"}
DISTRIBUTIONS = {"keras": "keras"}


def __getattr__(name: str):
    return public(__name__.rpartition(".")[2], name)
