"""JAX: ``jax.lax.conv_general_dilated``, jitted, with a persistent compilation cache, and
XLA's declared abort (``adapter``)."""

from .. import public

BACKENDS = {"jax": {"adapter": "Jax", "requires": "jax", "extra": "jax"}}
DISTRIBUTIONS = {"jax": "jax", "jaxlib": "jaxlib"}
VARIABLES = ("XLA_FLAGS",)
PUBLIC = {**{name: "adapter" for name in ("Jax", "CRASHES", "configure_process", "scoped", "vjp_steps")},
          "cuda_count": "cuda", "describe_cuda": "cuda"}
CUDA = {"count": "cuda_count", "describe": "describe_cuda"}  # in PUBLIC


def __getattr__(name: str):
    return public(__name__.rpartition(".")[2], name)
