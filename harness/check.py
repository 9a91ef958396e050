"""Run one spec in the reference and every backend, and judge each outcome."""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import signal
from typing import Iterable

import numpy as np

from .backends import available_backends, get_backend
from .backends.base import first_line
from .calls import Rendered
from .devices import CPU, PRECISIONS, Device
from .inputs import holds_exactly, make_inputs, validate_inputs
from .reference import reference
from .spec import ConvSpec
from .status import Status
from .tolerance import error_bound, judge

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
    precision: str = ""  # what the products were computed in, where not the spec's dtype ("tf32")
    device: str = "cpu"
    # kept for failures only (compare=False): per output element in the spec's layout, |error| and bound
    # for the heat map, and the float64 reference for the reproducer
    errors: np.ndarray | None = dataclasses.field(default=None, compare=False, repr=False)
    bound: np.ndarray | None = dataclasses.field(default=None, compare=False, repr=False)
    expected: np.ndarray | None = dataclasses.field(default=None, compare=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "status", Status(self.status))

    @property
    def ok(self) -> bool:
        """Whether the status counts as agreeing: a pass, or a declared refusal."""
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
        """Whether the adapter permuted the layout around the call."""
        return bool(self.invocation and self.invocation.transposed)

    @property
    def notes(self) -> tuple[str, ...]:
        """The call's notes (the layout transposed, a padding made explicit, ...)."""
        return self.invocation.notes if self.invocation else ()


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """One spec checked in every backend: its outcomes, in the order the backends ran."""

    spec: ConvSpec
    seed: int | None
    outcomes: tuple[Outcome, ...]
    exact: bool = False  # integer data: every backend had to equal the reference exactly
    expected: np.ndarray | None = dataclasses.field(default=None, compare=False, repr=False)  # the reference

    @property
    def ok(self) -> bool:
        """No backend disagreed with the reference or crashed."""
        return all(o.ok for o in self.outcomes)

    def __getitem__(self, backend: str) -> Outcome:
        for outcome in self.outcomes:
            if outcome.backend == backend:
                return outcome
        raise KeyError(backend)


class Bounds:
    """The reference's error bounds for one case, each computed when first asked for:
    the spec's dtype, or float32 with its inputs rounded to TF32 ("tf32")."""

    def __init__(self, spec: ConvSpec, x, w, b, exact: bool, expected: np.ndarray) -> None:
        self.spec, self.inputs, self.exact, self.known = spec, (x, w, b), exact, {}
        self.expected = expected

    def __call__(self, precision: str = "") -> np.ndarray:
        key = "" if precision in ("", self.spec.dtype) else precision
        if key not in self.known:
            self.known[key] = (np.zeros_like(self.expected) if self.exact
                               else error_bound(self.spec, *self.inputs, precision=key or None))
        return self.known[key]


def _where(backend: str, device: Device, precision: str) -> dict:
    """An outcome's backend label (``name[float32]`` with the float32 switches on) and device."""
    return dict(backend=backend if precision == "default" else f"{backend}[{precision}]", device=str(device))


def crash_message(backend: str, exitcode: int) -> str:
    """The message of a backend that killed the process running it (``exitcode`` as
    multiprocessing and subprocess give it: minus the signal's number)."""
    how = (f"signal {signal.Signals(-exitcode).name}" if exitcode < 0 and -exitcode in signal.valid_signals()
           else f"exit status {exitcode}")
    return f"crashed: the process running {backend} on this spec died ({how})"


def declares_crash(backend: str, spec: ConvSpec) -> bool:
    """Whether ``backend`` declares that ``spec`` kills its process (``Backend.crashes``)."""
    try:
        return get_backend(backend).crash(spec) is not None
    except Exception:  # not installed or not importable: check_backend reports it
        return False


def _quiet_child() -> None:
    """A child's stderr goes nowhere: a framework that aborts prints its stack trace there."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)


@contextlib.contextmanager
def child_process(needed: bool):
    """A pool of one spawned worker (pebble's ProcessPool, which replaces a worker that
    dies), or None where no backend runs apart; stopped when the block ends."""
    if not needed:
        yield None
        return
    from pebble import ProcessPool

    pool = ProcessPool(1, initializer=_quiet_child, context=multiprocessing.get_context("spawn"))
    try:
        yield pool
    finally:
        pool.stop()
        pool.join()


def check_backend_apart(pool, backend: str, spec: ConvSpec, expected: np.ndarray, bound, x, w, b, *,
                        device: Device = CPU, precision: str = "default") -> Outcome:
    """``check_backend`` in ``pool``'s child process: a backend that kills it is an ``error``
    outcome ("crashed: ..."), and this process goes on. Where the backend declares
    the crash (its run dies, not its import) the outcome has the framework's version
    and the call it was running, both taken here; an undeclared crash may have
    been the import, so nothing is imported here to say more."""
    from pebble import ProcessExpired

    future = pool.schedule(check_backend, (backend, spec, expected, bound, x, w, b),
                           dict(device=device, precision=precision))
    try:
        return future.result()
    except ProcessExpired as died:
        version, call = "", None
        if declares_crash(backend, spec):
            adapter = get_backend(backend)
            version = adapter.version()
            with contextlib.suppress(Exception):  # a hand-written backend has no plan
                call = adapter.plan(spec, device=device, precision=precision).rendered()
        return Outcome(**_where(backend, device, precision), status=Status.ERROR, version=version,
                       invocation=call, message=crash_message(backend, died.exitcode), expected=expected)


def check_backend(backend: str, spec: ConvSpec, expected: np.ndarray, bound, x, w, b, *, device: Device = CPU,
                  precision: str = "default") -> Outcome:
    """Run one backend and judge its result against the reference; never raises. ``bound`` is an
    array, or ``Bounds`` (then a result computed as TF32 is judged by the TF32 bound,
    and says how far outside float32's it lies). On an accelerator each result is
    computed twice: two that differ bit for bit are noted as nondeterministic.
    ``precision`` "float32" runs with the framework's float32 switches on, and the
    outcome is labelled ``backend[float32]``."""
    where = _where(backend, device, precision)
    try:
        adapter = get_backend(backend)
        version = adapter.version()
    except Exception as exc:  # not installed, or not importable: an outcome, never lost
        return Outcome(**where, status=Status.ERROR, message=f"{type(exc).__name__}: {first_line(exc)}")
    attempt = adapter.attempt(spec, x, w, b, device=device, precision=precision)
    if attempt.refusal is not None:
        return Outcome(**where, status=Status.UNSUPPORTED, version=version, invocation=attempt.call,
                       message=f"{attempt.refusal.reason}: {adapter.message(attempt.error)}", expected=expected)
    if attempt.error is not None:  # a crash is reported as an outcome, never lost
        return Outcome(**where, status=Status.ERROR, version=version, invocation=attempt.call,
                       message=f"{type(attempt.error).__name__}: {first_line(attempt.error)}", expected=expected)
    got = attempt.result
    used = adapter.default_precision(spec, device) if precision == "default" else spec.dtype
    used = "" if used == spec.dtype else used
    bounds = bound if callable(bound) else (lambda precision="": bound)
    bound = bounds(used)
    judgement = judge(expected, got, bound)
    if not judgement.shape_ok:
        return Outcome(**where, status=judgement.status, version=version, shape=tuple(np.shape(got)),
                       invocation=attempt.call, message=f"shape {tuple(np.shape(got))}, expected {expected.shape}",
                       expected=expected, precision=used)
    failed = not judgement.within_bound
    notes = []
    if used and not failed:
        outside = judge(expected, got, bounds()).ratio
        notes.append(f"passes as {used.upper()}, {outside:.3g}x the {spec.dtype} bound")
    if device.accelerator:
        again = adapter.attempt(spec, x, w, b, device=device, precision=precision).result
        if again is not None and not np.array_equal(np.asarray(again), np.asarray(got), equal_nan=True):
            differ = float(np.max(np.abs(np.asarray(again, np.float64) - np.asarray(got, np.float64))))
            notes.append(f"nondeterministic: a second run differs by up to {differ:.3g}")
    return Outcome(
        **where, status=judgement.status, version=version,
        max_abs_error=judgement.max_abs_error, max_rel_error=judgement.max_rel_error, ratio=judgement.ratio,
        worst_index=judgement.worst_index, shape=tuple(np.shape(got)), invocation=attempt.call,
        message="; ".join(notes), precision=used, errors=judgement.errors if failed else None,
        bound=bound if failed else None, expected=expected if failed else None,
    )


def check(spec: ConvSpec, seed: int = 0, backends: Iterable[str] | None = None, *, inputs=None,
          exact: bool = False, device: str | Device = CPU, isolate: bool | None = None) -> CheckResult:
    """Run ``spec`` with the data of ``seed`` (or ``inputs=(x, w, b)``) everywhere.

    With ``exact=True`` the data are small integers (``make_inputs(exact=True)``)
    and the bound is zero: any difference from the reference is a mismatch.
    On an accelerator ``device`` ("cuda", "cuda:1"), a float32 spec runs in each
    backend twice: as the framework's defaults compute it (TF32 where they do,
    judged by the TF32 bound) and with its float32 switches on (``name[float32]``).

    A backend that declares that ``spec`` kills its process (``Backend.crashes``)
    runs in a child process, and so does every backend with ``isolate=True``
    (none with ``isolate=False``): a backend that dies there is an ``error``
    outcome, "crashed: ...", and the others' outcomes are kept.
    """
    names = available_backends() if backends is None else tuple(backends)
    device = Device.parse(device)
    x, w, b = make_inputs(spec, seed, exact=exact) if inputs is None else inputs
    validate_inputs(spec, x, w, b)
    if exact and not holds_exactly(spec, x, w, b):
        raise ValueError("inputs: exact=True needs integer data small enough for exact sums (make_inputs(exact=True))")
    expected = reference(spec, x, w, b)
    bounds = Bounds(spec, x, w, b, exact, expected)
    modes = PRECISIONS if device.accelerator and spec.dtype == "float32" else ("default",)
    apart = {n: isolate if isolate is not None else declares_crash(n, spec) for n in names}
    with child_process(any(apart.values())) as pool:
        outcomes = tuple(
            check_backend_apart(pool, n, spec, expected, bounds, x, w, b, device=device, precision=mode)
            if apart[n] else check_backend(n, spec, expected, bounds, x, w, b, device=device, precision=mode)
            for n in names for mode in modes)
    return CheckResult(spec, seed, outcomes, exact, expected)


def reproduce_command(spec: ConvSpec, seed: int, exact: bool = False, *, backends: Iterable[str] = (),
                      identity: str | None = None) -> str:
    """One line a user can paste: the spec as JSON, the seed, and the command that
    runs it again (in ``backends`` only, and both sides of ``identity`` if named)."""
    import shlex

    flags = "".join((f" --backends {','.join(backends)}" if backends else "",
                     f" --identity {identity}" if identity else "", " --exact" if exact else ""))
    return (f"spec={spec.to_json()} seed={seed}{' --exact' if exact else ''}  ->  "
            f"convharness check {shlex.quote(spec.to_json())} --seed {seed}{flags}")
