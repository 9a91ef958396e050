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


def parameter_gradients(model, example, cotangent) -> dict:
    """``{conv module name: (dw, db)}``: the gradients of ``sum(model(example) * cotangent)``
    by torch.autograd, in the neutral order (PyTorch's own), None for a parameter that
    gets none (``requires_grad=False``, or cut off by a ``detach`` downstream of it)."""
    import torch

    from .scan import conv_classes

    convs = {name: module for name, module in model.named_modules() if isinstance(module, conv_classes())}
    wanted = [(name, role, p) for name, module in convs.items() for role, p in (("w", module.weight),
                                                                                ("b", module.bias))
              if p is not None and p.requires_grad]
    model.eval()
    with torch.enable_grad():
        y = model(as_input(example))
        if not isinstance(y, torch.Tensor):
            raise ValueError(f"model: returns a {type(y).__name__}; compare --grad needs one output array")
        dy = torch.from_numpy(np.ascontiguousarray(cotangent)).to(y.dtype)
        found = (torch.autograd.grad(y, [p for _, _, p in wanted], dy, allow_unused=True)
                 if wanted and y.requires_grad else [None] * len(wanted))
    grads = {(name, role): None if g is None else g.numpy(force=True) for (name, role, _), g in zip(wanted, found)}
    return {name: (grads.get((name, "w")), grads.get((name, "b"))) for name in convs}
