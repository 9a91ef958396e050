"""Plain-text tables of outcomes for the terminal."""

from __future__ import annotations

from .check import CheckResult
from .porting.model_comparison import final_output_text
from .status import Status


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _aligned(rows: list[tuple[str, ...]]) -> str:
    """Rows as indented lines, every column but the last padded to its widest cell."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1] for row in rows]
    return "\n".join("  " + line.rstrip() for line in lines)


def outcomes(result: CheckResult) -> str:
    rows = [("backend", *(("of",) if result.grad else ()), "status", "max abs err", "err/bound", "call")]
    for o in result.outcomes:
        call = o.message if o.status == Status.UNSUPPORTED else (o.native or o.message)  # a refusal: its reason
        if o.call and o.transposed:
            call += "  (layout transposed around the call)"
        if o.native and o.message and o.status in (Status.PASS, Status.ERROR):  # a pass's note (TF32), an error's words
            call += f"  [{o.message}]"
        status = f"{o.status} as {o.precision}" if o.precision else str(o.status)
        rows.append((o.backend, *((o.quantity,) if result.grad else ()), status, _number(o.max_abs_error),
                     _number(o.ratio), call))
    return _aligned(rows)


def identity_outcomes(outcomes) -> str:
    """One row per backend: whether both sides of an identity agree, and which strays."""
    rows = [("backend", "status", "diff/2*bound", "message")]
    for o in outcomes:
        rows.append((o.backend, o.status, _number(o.ratio), o.message))
    return _aligned(rows)


def layers(scanned_name: str, results) -> str:
    """One row per scanned layer: name, spec in words, status per backend, worst ratio."""
    backends = []
    for r in results:
        for o in (r.result.outcomes if r.result else ()):
            if o.backend not in backends:
                backends.append(o.backend)
    header = ("layer", *backends, "worst err/bound", "spec")
    rows = [header]
    for r in results:
        if r.result is None:
            rows.append((r.layer.name, *("-" for _ in backends), "-", f"not checked: {r.layer.unsupported}"))
            continue
        status = {o.backend: o.status for o in r.result.outcomes}
        rows.append((r.layer.name, *(status.get(b, "-") for b in backends), _number(r.worst_ratio),
                     r.layer.spec.describe()))
    return f"{scanned_name}: {len(results)} convolutions\n" + _aligned(rows)


def comparison(result) -> str:
    """One row per pair (source layer, target layer, verdict, what differs), then the first
    divergence with its fix under it, and the final outputs."""
    rows = [("source", "target", "verdict", "err/bound", "what differs")]
    for p in result.pairs:
        rows.append((p.source or "-", p.target or "-", p.verdict, _number(p.ratio), p.detail or "-"))
    lines = [f"{result.source} -> {result.target}: {len(result.pairs)} pairs", _aligned(rows)]
    first = result.first_divergence
    if first is None:
        lines.append("every pair agrees")
    else:
        lines.append(f"first divergence: {first.source or first.target} ({first.verdict}): {first.detail}")
        if first.fix:
            lines.append(f"  {first.fix}")
    lines.append(f"final outputs: {final_output_text(result.final_output)}")
    if result.gradients:
        lines.append(gradient_comparison(result))
    return "\n".join(lines)


def gradient_comparison(result) -> str:
    """compare --grad: one row per pair with its gradient verdict, then the first gradient divergence."""
    rows = [("source", "target", "gradient", "err/bound", "what differs")]
    for p in result.pairs:
        if p.gradient is not None:
            rows.append((p.source, p.target, p.gradient.verdict, _number(p.gradient.ratio), p.gradient.detail or "-"))
    first = result.first_gradient_divergence
    return "\n".join(["gradients of sum(output * cotangent), each model by its own framework:", _aligned(rows),
                      "every gradient agrees" if first is None
                      else f"first gradient divergence (from the output backwards): {first}"])
