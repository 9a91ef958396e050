"""Explain one spec: the exact equivalent call in each framework, why its
padding and layout arguments are what they are, and whether they agree."""

from __future__ import annotations

import dataclasses
from typing import Iterable

from . import frameworks
from .check import CheckResult, check
from .spec import ConvSpec
from .status import Status


MODE_NOTES = {
    "reflect": "padding_mode 'reflect' (NumPy's reflect, the edge not repeated): torch.nn.ConvNd(padding_mode="
               "'reflect') or F.pad(mode='reflect'); tf.pad(mode='REFLECT'); jnp.pad(mode='reflect')",
    "replicate": "padding_mode 'replicate' (NumPy's edge): F.pad(mode='replicate'); jnp.pad(mode='edge'); TensorFlow "
                 "has no edge mode (SYMMETRIC repeats the edge only for a pad of 1): gather the edge index",
    "circular": "padding_mode 'circular' (NumPy's wrap): F.pad(mode='circular'); jnp.pad(mode='wrap'); TensorFlow "
                "has none: gather the wrapped indices",
}


def padding_notes(spec: ConvSpec) -> list[str]:
    """What the spec's padding resolves to, and where the frameworks' conventions part."""
    if spec.transposed:
        return transposed_padding_notes(spec)
    pads = spec.explicit_padding
    pairs = ", ".join(f"({b}, {a})" for b, a in pads)
    notes = [f"padding {spec.padding!r} resolves to (before, after) = {pairs} per spatial axis"]
    symmetric = all(b == a for b, a in pads)
    if spec.padding == "same":
        notes.append("TensorFlow/JAX 'SAME': output ceil(n/stride), total pad from the dilated kernel, "
                     "the odd pad at the end")
        if any(s > 1 for s in spec.stride):
            notes.append("PyTorch's padding='same' refuses stride > 1: give PyTorch these pads explicitly")
        torch_style = [((k - 1) * d) // 2 for k, d in zip(spec.kernel, spec.dilation)]
        if [b for b, _ in pads] != torch_style or not symmetric:
            notes.append(
                f"PyTorch-style symmetric padding={tuple(torch_style)} (floor((k-1)*d/2)) is NOT the same here: "
                "it differs for even kernels and for stride > 1"
            )
    elif spec.padding == "causal":
        notes.append("causal: (k-1)*d zeros before the sequence only (Keras Conv1D(padding='causal'))")
    if not symmetric:
        notes.append("asymmetric: PyTorch needs torch.nn.functional.pad first (widths from the last axis "
                     "backwards); tf.nn.conv2d takes the pairs as a list, tf.nn.conv1d/conv3d need tf.pad first")
    if spec.mode_fills:
        notes.append(MODE_NOTES[spec.padding_mode])
    return notes


def transposed_padding_notes(spec: ConvSpec) -> list[str]:
    crops = ", ".join(f"({b}, {a})" for b, a in spec.explicit_padding)
    full = "x".join(map(str, spec.full_output_spatial))
    notes = [f"transposed: the full output is (n-1)*s + (k-1)*d + 1 = {full}; padding {spec.padding!r} crops "
             f"(before, after) = {crops} from it (PyTorch and ONNX ConvTranspose)"]
    if any(spec.explicit_output_padding):
        notes.append(f"output_padding {spec.explicit_output_padding} adds positions at the end: computed values "
                     "where the crop left some, zeros beyond the full output")
    if spec.padding == "same":
        notes.append("'same': output n*stride, the crop's smaller half at the start (TensorFlow, Keras, ONNX "
                     "SAME_UPPER); TensorFlow's 'SAME' with output_shape n*stride is native")
    if any(b != a for b, a in spec.explicit_padding):
        notes.append("asymmetric: PyTorch crops the same on both sides, so the rest is narrowed off its output")
    notes.append("TensorFlow's conv*_transpose take output_shape: 'VALID' gives the full output, which is sliced; "
                 "jax.lax.conv_transpose pads the dilated input by integer pairs (k-1)*d - crop, not the crop")
    return notes


def layout_notes(spec: ConvSpec) -> list[str]:
    r = spec.rank
    k = "".join("DHW"[3 - r:])
    if spec.transposed:
        weights = (f"input and output {spec.layout}; weights (in, out/groups, {', '.join(k)}) as PyTorch's "
                   f"ConvTranspose{r}d.weight and ONNX; TensorFlow's conv{r}d_transpose filter is "
                   f"({', '.join(k)}, out, in); JAX runs the forward conv with the kernel flipped and in/out swapped "
                   "(lax.conv_transpose needs transpose_kernel=True for these weights)")
    else:
        weights = (f"input and output {spec.layout}; weights (out, in/groups, {', '.join(k)}) as PyTorch's "
                   f"Conv{r}d.weight and JAX 'OI{k}'; TensorFlow's filter is ({', '.join(k)}, in/groups, out)")
    return [weights, *frameworks.layout_notes(spec.channels_last)]  # each package's LAYOUT_NOTES


@dataclasses.dataclass(frozen=True)
class BackendCall:
    backend: str
    code: str  # pasteable: imports, conversion from NumPy, the call, back to NumPy
    status: Status
    transposed: bool
    notes: tuple[str, ...]
    message: str
    ratio: float | None


@dataclasses.dataclass(frozen=True)
class Explanation:
    spec: ConvSpec
    padding: tuple[str, ...]
    layout: tuple[str, ...]
    calls: tuple[BackendCall, ...]
    result: CheckResult

    @property
    def verdict(self) -> str:
        ran = [c for c in self.calls if c.status != Status.UNSUPPORTED]
        refused = [c.backend for c in self.calls if c.status == Status.UNSUPPORTED]
        tail = f"; refused by {', '.join(refused)} (declared)" if refused else ""
        if self.result.ok:
            worst = max((c.ratio or 0.0 for c in ran), default=0.0)
            return (f"agree: {', '.join(c.backend for c in ran)} match the float64 reference "
                    f"(worst error/bound {worst:.2g}){tail}")
        bad = [f"{c.backend} {c.status}" for c in self.calls if c.status.failing]
        return f"DISAGREE: {', '.join(bad)}{tail}"

    def text(self) -> str:
        lines = [self.spec.describe(), ""]
        lines += [f"  - {n}" for n in (*self.layout, *self.padding)]
        for call in self.calls:
            how = "transposed around the call" if call.transposed else "native layout"
            lines += ["", f"## {call.backend}: {call.status} ({how})"]
            lines += [f"# {n}" for n in call.notes]
            if call.message:
                lines.append(f"# {call.message}")
            lines.append(call.code)
        lines += ["", self.verdict]
        return "\n".join(lines)


def explain(spec: ConvSpec, seed: int = 0, backends: Iterable[str] | None = None, *, inputs=None,
            device="cpu", isolate: bool | None = None) -> Explanation:
    """Run ``spec`` in every backend (on ``device``; in a child process as ``check``
    decides by ``isolate``) and collect each exact call with its verdict."""
    result = check(spec, seed, backends, inputs=inputs, device=device, isolate=isolate)
    calls = tuple(
        BackendCall(o.backend, o.invocation.standalone() if o.invocation else "", o.status,
                    o.transposed, o.notes, o.message, o.ratio)
        for o in result.outcomes
        if o.backend != "numpy"
    )
    return Explanation(spec, tuple(padding_notes(spec)), tuple(layout_notes(spec)), calls, result)
