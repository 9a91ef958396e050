"""Run one spec in the reference and every backend, and judge each outcome."""

from __future__ import annotations

import dataclasses
from typing import Iterable

import numpy as np

from .backends import available_backends, get_backend
from .backends.base import first_line
from .calls import Rendered
from .inputs import holds_exactly, make_inputs, validate_inputs
from .reference import reference
from .spec import ConvSpec
from .status import STATUSES, Status  # noqa: F401  (STATUSES: part of this module's API)
from .tolerance import compare, error_bound

@dataclasses.dataclass(frozen=True)
class Outcome:
    """One backend's verdict on one spec."""

    backend: str
    status: Status
    version: str = ""
    max_abs_error: float | None = None
    max_rel_error: float | None = None
    ratio: float | None = None  # worst |error| / bound; <= 1 passes
    worst_index: tuple[int, ...] | None = None
    shape: tuple[int, ...] | None = None
    invocation: Rendered | None = None  # the call the backend made, as it ran
    message: str = ""
    # kept for failures only (compare=False): per output element in the spec's layout, |error| and bound
    # for the heat map, and the float64 reference for the reproducer
    errors: np.ndarray | None = dataclasses.field(default=None, compare=False, repr=False)
    bound: np.ndarray | None = dataclasses.field(default=None, compare=False, repr=False)
    expected: np.ndarray | None = dataclasses.field(default=None, compare=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "status", Status(self.status))

    @property
    def ok(self) -> bool:
        return self.status.ok

    @property
    def call(self) -> str:
        """The code the backend ran between its inputs and its output."""
        return self.invocation.code if self.invocation else ""

    @property
    def native(self) -> str:
        """The line that calls the framework's convolution."""
        return self.invocation.native if self.invocation else ""

    @property
    def transposed(self) -> bool:
        return bool(self.invocation and self.invocation.transposed)

    @property
    def notes(self) -> tuple[str, ...]:
        return self.invocation.notes if self.invocation else ()


@dataclasses.dataclass(frozen=True)
class CheckResult:
    spec: ConvSpec
    seed: int | None
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
    try:
        adapter = get_backend(backend)
        version = adapter.version()
    except Exception as exc:  # not installed, or not importable: an outcome, never lost
        return Outcome(backend=backend, status=Status.ERROR, message=f"{type(exc).__name__}: {first_line(exc)}")
    attempt = adapter.attempt(spec, x, w, b)
    if attempt.refusal is not None:
        return Outcome(backend=backend, status=Status.UNSUPPORTED, version=version, invocation=attempt.call,
                       message=f"{attempt.refusal.reason}: {adapter.message(attempt.error)}", expected=expected)
    if attempt.error is not None:  # a crash is reported as an outcome, never lost
        return Outcome(backend=backend, status=Status.ERROR, version=version, invocation=attempt.call,
                       message=f"{type(attempt.error).__name__}: {first_line(attempt.error)}", expected=expected)
    got = attempt.result
    result = compare(expected, got, bound)
    if not result.shape_ok:
        return Outcome(backend=backend, status=Status.SHAPE_MISMATCH, version=version, shape=tuple(np.shape(got)),
                       invocation=attempt.call, message=f"shape {tuple(np.shape(got))}, expected {expected.shape}",
                       expected=expected)
    failed = not result.within_bound
    return Outcome(
        backend=backend, status=Status.MISMATCH if failed else Status.PASS, version=version,
        max_abs_error=result.max_abs_error, max_rel_error=result.max_rel_error, ratio=result.ratio,
        worst_index=result.worst_index, shape=tuple(np.shape(got)), invocation=attempt.call,
        errors=result.errors if failed else None, bound=bound if failed else None,
        expected=expected if failed else None,
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
