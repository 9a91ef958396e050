"""The porting hooks for Flax models (``harness.porting.MODEL_HOOKS``): an NNX module, or a
callable that runs linen modules. Such a callable is recognised by what it holds (a bound
linen Module, ``functools.partial(module.apply, variables)``, a jitted function of one, or
an object with one among its attributes): running an arbitrary object to find out would
need an input, and could have effects of its own."""

from __future__ import annotations

import sys

import numpy as np

NAME = "flax"
KIND = ("a Flax model (a flax.nnx.Module; a bound flax.linen Module, functools.partial(module.apply, "
        "variables) or an object that holds and calls one)")


def _nnx(model) -> bool:
    nnx = sys.modules.get("flax.nnx")
    return nnx is not None and isinstance(model, nnx.Module)


def recognises(model) -> bool:
    linen = sys.modules.get("flax.linen")  # a model of a module not yet imported cannot exist
    if _nnx(model):
        return True
    if linen is None or not callable(model):
        return False
    from .scan import linen_modules

    return next(linen_modules(model, linen), None) is not None


def scan(model, example, *, name: str | None = None, fold_zero_padding: bool = False):
    from .scan import scan_flax, scan_linen

    scanner = scan_flax if _nnx(model) else scan_linen
    return scanner(model, example, name=name, fold_zero_padding=fold_zero_padding)


def as_input(array: np.ndarray):
    return array


def channels_last(model, example: np.ndarray, example_last: bool) -> bool:
    """Flax's convolutions take channels-last."""
    return True


def paste_backend() -> str:
    return "flax"
