"""Run one spec in the reference and every backend, and judge each outcome."""

from __future__ import annotations

import dataclasses
from typing import Iterable

import numpy as np

from .backends import Unsupported, available_backends, get_backend
from .backends.base import first_line
from .inputs import holds_exactly, make_inputs, validate_inputs
from .reference import reference
from .spec import ConvSpec
from .tolerance import compare, error_bound

STATUSES = ("pass", "mismatch", "shape_mismatch", "unsupported", "error")


@dataclasses.dataclass(frozen=True)
class Outcome:
    """One backend's verdict on one spec."""

    backend: str
    status: str
    version: str = ""
    max_abs_error: float | None = None
    max_rel_error: float | None = None
    ratio: float | None = None  # worst |error| / bound; <= 1 passes
    worst_index: tuple[int, ...] | None = None
    shape: tuple[int, ...] | None = None
    call: str = ""
    native: str = ""
    transposed: bool = False
    notes: tuple[str, ...] = ()
    message: str = ""
    # |error| and bound per output element (spec layout), kept for mismatches only: the heat map
    errors: np.ndarray | None = dataclasses.field(default=None, compare=False, repr=False)
    bound: np.ndarray | None = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def ok(self) -> bool:
        return self.status in ("pass", "unsupported")


@dataclasses.dataclass(frozen=True)
class CheckResult:
    spec: ConvSpec
    seed: int
    outcomes: tuple[Outcome, ...]
    exact: bool = False  # integer data: every backend had to equal the reference exactly

    @property
    def ok(self) -> bool:
        """No backend disagreed with the reference or crashed."""
        return all(o.ok for o in self.outcomes)

    def __getitem__(self, backend: str) -> Outcome:
        for outcome in self.outcomes:
            if outcome.backend == backend:
                return outcome
        raise KeyError(backend)


def judge(backend: str, spec: ConvSpec, expected: np.ndarray, bound: np.ndarray, x, w, b) -> Outcome:
    """Run one backend and compare it with the reference; never raises."""
    version = ""
    try:
        adapter = get_backend(backend)
        version = adapter.version()
        got, call = adapter.run(spec, x, w, b)
    except Unsupported as exc:
        return Outcome(backend, "unsupported", version, call=exc.call.code, native=exc.call.native,
                       transposed=exc.call.transposed, notes=exc.call.notes,
                       message=f"{exc.refusal.reason}: {exc.framework_message}")
    except Exception as exc:  # a crash is reported as an outcome, never lost
        return Outcome(backend, "error", version, message=f"{type(exc).__name__}: {first_line(exc)}")
    result = compare(expected, got, bound)
    if not result.shape_ok:
        status = "shape_mismatch"
        message = f"shape {tuple(np.shape(got))}, expected {expected.shape}"
    else:
        status = "pass" if result.within_bound else "mismatch"
        message = ""
    kept = status == "mismatch"
    return Outcome(
        backend, status, version, result.max_abs_error, result.max_rel_error, result.ratio,
        result.worst_index, tuple(np.shape(got)), call.code, call.native, call.transposed, call.notes, message,
        result.errors if kept else None, bound if kept else None,
    )


def check(spec: ConvSpec, seed: int = 0, backends: Iterable[str] | None = None, *, inputs=None,
          exact: bool = False) -> CheckResult:
    """Run ``spec`` with the data of ``seed`` (or ``inputs=(x, w, b)``) everywhere.

    With ``exact=True`` the data are small integers (``make_inputs(exact=True)``)
    and the bound is zero: any difference from the reference is a mismatch.
    """
    names = available_backends() if backends is None else tuple(backends)
    x, w, b = make_inputs(spec, seed, exact=exact) if inputs is None else inputs
    validate_inputs(spec, x, w, b)
    if exact and not holds_exactly(spec, x, w, b):
        raise ValueError("inputs: exact=True needs integer data small enough for exact sums (make_inputs(exact=True))")
    expected = reference(spec, x, w, b)
    bound = np.zeros_like(expected) if exact else error_bound(spec, x, w, b)
    return CheckResult(spec, seed, tuple(judge(n, spec, expected, bound, x, w, b) for n in names), exact)


def reproduce_command(spec: ConvSpec, seed: int, exact: bool = False, *, backends: Iterable[str] = (),
                      identity: str | None = None) -> str:
    """One line a user can paste: the spec as JSON, the seed, and the command that
    runs it again (in ``backends`` only, and both sides of ``identity`` if named)."""
    import shlex

    flags = "".join((f" --backends {','.join(backends)}" if backends else "",
                     f" --identity {identity}" if identity else "", " --exact" if exact else ""))
    return (f"spec={spec.to_json()} seed={seed}{' --exact' if exact else ''}  ->  "
            f"convharness check {shlex.quote(spec.to_json())} --seed {seed}{flags}")
