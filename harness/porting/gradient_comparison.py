"""The backward pass of a port: each paired convolution's weight and bias gradients of
one scalar loss, differentiated in both models by their own framework, compared.

The loss is ``sum(y * c)``: the model's final output y times a fixed random cotangent
c (drawn once, shaped as the source's output, the same values converted to the
target's layout). Each framework package's ``models.parameter_gradients`` gives the
gradients in the neutral weight order, by its conv layers' names as the scan gives
them. A pair's verdict: ``agree`` within the bound, ``differs`` beyond it, ``missing``
where one side's parameters get no gradient (None: frozen, or cut off from the loss
as TensorFlow and PyTorch say it; all zeros where the other's are not: cut off by a
``stop_gradient``, as JAX says it). The bound is in docs/gradients.md.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..dtypes import eps
from ..gradients import gradient_lengths
from ..layouts import convert_layout
from ..tolerance import C
from . import model_kind

AGREE, DIFFERS, MISSING = "agree", "differs", "missing"
COTANGENT_SEED = 0


@dataclasses.dataclass(frozen=True)
class GradientVerdict:
    """One pair's parameter gradients compared: the verdict, the worst |difference| over
    the bound (None where not measured) and what differs, in words."""

    verdict: str
    ratio: float | None = None
    detail: str = ""

    def to_dict(self) -> dict:
        return {"verdict": self.verdict, "ratio": self.ratio, "detail": self.detail}


def loss_cotangent(shape: tuple[int, ...], dtype) -> np.ndarray:
    """The fixed random cotangent of the loss ``sum(y * c)``, shaped as the source's output."""
    return np.random.default_rng(COTANGENT_SEED).uniform(-1.0, 1.0, size=shape).astype(dtype)


def parameter_gradients(model, example, cotangent) -> dict:
    """``model``'s framework's ``parameter_gradients``; ValueError naming the kind of model
    where its package has none (an ONNX graph is forward only)."""
    kind = model_kind(model)
    hook = getattr(kind, "parameter_gradients", None)
    if hook is None:
        raise ValueError(f"grad: {kind.KIND if kind else type(model).__name__} is compared forward only here: its "
                         "framework package's models.py has no parameter_gradients hook (drop --grad)")
    return hook(model, example, cotangent)


def gradient_bound(spec, depth: int, *grads) -> float:
    """The bound on one pair's gradient difference: the forward bound's formula (C*K + 1)
    times eps(float32), with K the length of dw's sum (batch times output positions)
    times ``depth``, the convolutions the cotangent crosses from the output to this
    layer, each adding a sum of that order, and the sums' magnitudes taken as the
    largest gradient element of either side (see docs/gradients.md)."""
    length = gradient_lengths(spec)[1] * depth
    scale = max(float(np.max(np.abs(g), initial=0.0)) for g in grads)
    return (C * length + 1) * eps("float32") * scale


def compare_gradients(spec, depth: int, source: tuple, target: tuple) -> GradientVerdict:
    """One pair's ``(dw, db)`` of the source against the target's."""
    names = ("dw", "db")
    lacking = []
    for name, s, t in zip(names, source, target):
        if _none_or_zero(t) != _none_or_zero(s):
            lacking.append(f"{name} on the {'target' if _none_or_zero(t) else 'source'} side")
    if lacking:
        return GradientVerdict(MISSING, None, "no gradient reaches " + ", ".join(lacking)
                               + " (frozen, or cut off by a stop_gradient/detach downstream of it)")
    worst, details = 0.0, []
    for name, s, t in zip(names, source, target):
        if s is None or t is None:
            continue
        s, t = np.asarray(s, np.float64), np.asarray(t, np.float64)
        if s.shape != t.shape:
            return GradientVerdict(DIFFERS, float("inf"), f"{name}: shape {t.shape}, the source's {s.shape}")
        bound = gradient_bound(spec, depth, s, t)
        error = float(np.max(np.abs(s - t), initial=0.0))
        ratio = error / bound if bound else (0.0 if error == 0 else float("inf"))
        worst = max(worst, ratio)
        if ratio > 1:
            details.append(f"{name} off by {error:.3g}, {ratio:.3g} x the bound {bound:.3g}")
    return GradientVerdict(DIFFERS if details else AGREE, worst, "; ".join(details))


def _none_or_zero(grad) -> bool:
    return grad is None or not np.any(np.asarray(grad))


def gradient_verdicts(pairs, source_model, target_model, source_example, target_example, source_output_shape,
                      source_last: bool, target_last: bool, specs: dict) -> dict[str, GradientVerdict]:
    """The gradient verdict of each pair (by source layer name) whose layers both have a
    spec: both models differentiated at the loss cotangent, converted to each's layout."""
    cotangent = loss_cotangent(source_output_shape, np.float32)
    target_cotangent = (np.ascontiguousarray(convert_layout(cotangent, source_last, target_last))
                        if cotangent.ndim >= 3 else cotangent)
    source_grads = parameter_gradients(source_model, source_example, cotangent)
    target_grads = parameter_gradients(target_model, target_example, target_cotangent)
    compared = [p for p in pairs if p.source in specs and p.target is not None]
    verdicts = {}
    for depth, pair in enumerate(reversed(compared), start=1):
        verdicts[pair.source] = compare_gradients(specs[pair.source], depth, source_grads.get(pair.source, (None,) * 2),
                                                  target_grads.get(pair.target, (None, None)))
    return verdicts


def first_gradient_divergence(pairs) -> str | None:
    """The source layer of the last pair, in execution order, whose gradient does not
    agree: the first met from the output backwards, where the backward pass begins."""
    return next((p.source for p in reversed(pairs) if p.gradient is not None and p.gradient.verdict != AGREE), None)
