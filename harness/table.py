"""Plain-text tables of outcomes for the terminal."""

from __future__ import annotations

from .check import CheckResult


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def outcomes(result: CheckResult) -> str:
    rows = [("backend", "status", "max abs err", "err/bound", "call")]
    for o in result.outcomes:
        call = o.native or o.message
        if o.call and o.transposed:
            call += "  (layout transposed around the call)"
        rows.append((o.backend, o.status, _number(o.max_abs_error), _number(o.ratio), call))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[4] for row in rows]
    return "\n".join(["  " + line.rstrip() for line in lines])
