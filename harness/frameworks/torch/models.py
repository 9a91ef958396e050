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
