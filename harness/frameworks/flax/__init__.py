"""Flax: ``flax.nnx.Conv`` and ``ConvTranspose``, jitted (``adapter``), NNX and linen model scans
(``scan``) and the porting hooks (``models``)."""

from .. import public

BACKENDS = {"flax": {"adapter": "Flax", "requires": "flax,jax", "extra": "flax", "default": False}}
DISTRIBUTIONS = {"flax": "flax"}
PUBLIC: dict[str, str] = {}


def __getattr__(name: str):
    return public(__name__.rpartition(".")[2], name)
