"""The porting hooks for PyTorch models (``harness.porting.MODEL_HOOKS``)."""

from __future__ import annotations

import sys

import numpy as np

NAME = "torch"
KIND = "a torch.nn.Module"


def recognises(model) -> bool:
    torch = sys.modules.get("torch")  # a model of a framework not yet imported cannot exist
    return torch is not None and isinstance(model, torch.nn.Module)


def scan(model, example, *, name: str | None = None, fold_zero_padding: bool = False):
    from .scan import scan_torch

    return scan_torch(model, example, name=name, fold_zero_padding=fold_zero_padding)


def as_input(array: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(array))


def channels_last(model, example: np.ndarray, example_last: bool) -> bool:
    """PyTorch's convolutions take channels-first."""
    return False


def paste_backend() -> str:
    return "torch"
