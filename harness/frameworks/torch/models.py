"""The porting hooks for PyTorch models (``harness.porting.MODEL_HOOKS``)."""

from __future__ import annotations

import sys

import numpy as np

from ...porting.hooks import instance_of, scanned_by

NAME = "torch"
KIND = "a torch.nn.Module"


recognises = instance_of("torch", "nn.Module")
scan = scanned_by(__package__, "scan_torch")


def as_input(array: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(array))


def to_numpy(value) -> np.ndarray | None:
    """A torch tensor as NumPy (bfloat16 widened to float32, which NumPy lacks); None for anything else."""
    torch = sys.modules.get("torch")
    if torch is None or not isinstance(value, torch.Tensor):
        return None
    value = value.detach().cpu()
    return (value.float() if value.dtype == torch.bfloat16 else value).numpy()


def channels_last(model, example: np.ndarray, example_last: bool) -> bool:
    """PyTorch's convolutions take channels-first."""
    return False


def paste_backend() -> str:
    return "torch"


def _convs(torch) -> tuple:
    return tuple(getattr(torch.nn, f"{kind}{r}d") for kind in ("Conv", "ConvTranspose") for r in (1, 2, 3))


def run_substituted(model, example, outputs: dict):
    """One forward pass in which each conv module named in ``outputs`` returns that array instead of
    its own result (a forward hook's return value replaces the output): ({conv name: the input it got},
    the model's output)."""
    import torch

    inputs: dict[str, np.ndarray] = {}

    def hook(name):
        def replace(module, args, output):
            inputs[name] = to_numpy(args[0]).copy()
            given = outputs.get(name)
            if given is not None and np.size(given) == output.numel():
                return torch.from_numpy(np.ascontiguousarray(given)).to(output.dtype).reshape(output.shape)
            return None
        return replace

    handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules() if isinstance(m, _convs(torch))]
    try:
        with torch.no_grad():
            output = model(example)
    finally:
        for handle in handles:
            handle.remove()
    return inputs, output


def own_fix(mistake: str, source, target) -> str:
    """The fix in PyTorch's terms: a padding as ``padding=`` where it is symmetric, else ``F.pad``
    then ``padding=0``; a transposed kernel taken as it is. "" where the generic fix says it."""
    layer = f"torch.nn.Conv{'Transpose' if target.transposed else ''}{target.rank}d"
    if mistake == "padding" and not target.transposed:
        pads = source.explicit_padding
        if all(before == after for before, after in pads):
            return f"fix: give the {layer} padding={tuple(before for before, _ in pads)}"
        widths = tuple(w for pair in reversed(pads) for w in pair)  # F.pad's order: the last axis first
        return f"fix: pad the input with torch.nn.functional.pad(x, {widths}) and give the {layer} padding=0"
    if mistake in ("transposed_kernel_not_flipped", "flipped_kernel") and target.transposed:
        return (f"fix: a {layer} takes the source's kernel (in, out, *k) as it is: do not flip its spatial axes "
                f"(no .flip(...) or [..., ::-1, ::-1])")
    return ""


def parameter_gradients(model, example, cotangent) -> dict:
    """``{conv module name: (dw, db)}``: the gradients of ``sum(model(example) * cotangent)``
    by torch.autograd, in the neutral order (PyTorch's own), None for a parameter that
    gets none (``requires_grad=False``, or cut off by a ``detach`` downstream of it)."""
    import torch

    convs = {name: module for name, module in model.named_modules() if isinstance(module, _convs(torch))}
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
