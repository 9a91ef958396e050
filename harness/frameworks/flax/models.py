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


def parameter_gradients(model, example, cotangent) -> dict:
    """``{conv layer path (as the scan names it): (dw, db)}``: the gradients of
    ``sum(model(example) * cotangent)`` with respect to the model's ``nnx.Param``s by
    ``nnx.grad``, the kernel's in the neutral order; None for a weight that is no
    Param (frozen: held in another nnx.Variable type), zeros where a
    ``jax.lax.stop_gradient`` downstream of it cuts it off (JAX's way)."""
    import jax.numpy as jnp
    from flax import nnx

    from .scan import neutral_kernel

    grads = nnx.grad(lambda m: jnp.sum(m(example) * jnp.asarray(cotangent)))(model)
    flat = {tuple(path): value for path, value in nnx.to_flat_state(grads)}
    found = {}
    for path, node in nnx.iter_graph(model):
        if isinstance(node, (nnx.Conv, nnx.ConvTranspose)):
            kernel, bias = flat.get((*path, "kernel")), flat.get((*path, "bias"))
            found["/".join(map(str, path))] = (
                None if kernel is None else neutral_kernel(node, np.asarray(kernel[...])),
                None if bias is None else np.asarray(bias[...]))
    return found
