"""Run one spec in the reference and every backend, and judge each outcome."""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import signal
from typing import Callable, Iterable

import numpy as np

from .backends import EXTRA_ENV, available_backends, get_backend, load_backends
from .backends.base import first_line
from .calls import Rendered
from .devices import CPU, PRECISIONS, Device, share_gpu
from .gradients import Gradients, gradient_bounds, reference_vjp
from .inputs import holds_exactly, make_cotangent, make_inputs, validate_inputs
from .reference import reference, reference_and_magnitudes
from .spec import ConvSpec
from .status import Status
from .tolerance import Judgement, error_bound, judge

QUANTITIES = ("y", "dx", "dw", "db")  # what an outcome judges: the output, or a gradient of <y, dy>

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
    quantity: str = "y"  # one of QUANTITIES: the output y, or the gradient dx, dw or db at the cotangent dy
    # kept for failures only (compare=False): per output element in the spec's layout, |error| and bound
    # for the heat map, and the float64 reference for the reproducer
    errors: np.ndarray | None = dataclasses.field(default=None, compare=False, repr=False)
    bound: np.ndarray | None = dataclasses.field(default=None, compare=False, repr=False)
    expected: np.ndarray | None = dataclasses.field(default=None, compare=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "status", Status(self.status))
        if self.quantity not in QUANTITIES:
            raise ValueError(f"quantity={self.quantity!r}: must be one of {', '.join(QUANTITIES)}")

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

    @classmethod
    def judged(cls, backend: str, judgement: Judgement, shape, expected_shape, **fields) -> Outcome:
        """``backend``'s outcome for a result of ``shape`` that ``judgement`` (``tolerance.judge``'s)
        judged against a reference of ``expected_shape``; ``fields`` (version, invocation, ...) are
        kept as given, except that a shape mismatch's message names both shapes."""
        shape = tuple(shape)
        if not judgement.shape_ok:
            return cls(backend=backend, status=judgement.status, shape=shape,
                       **{**fields, "message": f"shape {shape}, expected {tuple(expected_shape)}"})
        return cls(backend=backend, status=judgement.status, max_abs_error=judgement.max_abs_error,
                   max_rel_error=judgement.max_rel_error, ratio=judgement.ratio, worst_index=judgement.worst_index,
                   shape=shape, **fields)


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """One spec checked in every backend: its outcomes, in the order the backends ran."""

    spec: ConvSpec
    seed: int | None
    outcomes: tuple[Outcome, ...]
    exact: bool = False  # integer data: every backend had to equal the reference exactly
    expected: np.ndarray | None = dataclasses.field(default=None, compare=False, repr=False)  # the reference
    grad: bool = False  # the gradients at make_cotangent(spec, seed) were checked too

    @property
    def ok(self) -> bool:
        """No backend disagreed with the reference or crashed."""
        return all(o.ok for o in self.outcomes)

    def __getitem__(self, backend: str) -> Outcome:
        """The forward outcome of ``backend``; ``result[backend, "dw"]`` its weight gradient's."""
        backend, quantity = backend if isinstance(backend, tuple) else (backend, "y")
        for outcome in self.outcomes:
            if outcome.backend == backend and outcome.quantity == quantity:
                return outcome
        raise KeyError((backend, quantity) if quantity != "y" else backend)


class Bounds:
    """The reference's error bounds for one case, each computed when first asked for:
    the spec's dtype, or float32 with its inputs rounded to TF32 ("tf32"). With a
    cotangent ``dy``, the bounds of the gradients (``gradient_bounds``) instead, and
    ``quantity`` picks dx, dw or db."""

    def __init__(self, spec: ConvSpec, x, w, b, exact: bool, expected: np.ndarray, dy=None,
                 quantity: str = "y", magnitudes: np.ndarray | None = None) -> None:
        self.spec, self.inputs, self.exact, self.known = spec, (x, w, b), exact, {}
        self.expected, self.dy, self.quantity, self.magnitudes = expected, dy, quantity, magnitudes

    def __call__(self, precision: str = "") -> np.ndarray:
        key = "" if precision in ("", self.spec.dtype) else precision
        if key not in self.known:
            if self.dy is not None:
                self.known[key] = gradient_bounds(self.spec, *self.inputs, self.dy, precision=key or None)
            else:
                self.known[key] = (np.zeros_like(self.expected) if self.exact
                                   else error_bound(self.spec, *self.inputs, precision=key or None,
                                                    magnitudes=self.magnitudes))
        found = self.known[key]
        return getattr(found, self.quantity) if self.dy is not None else found

    def of(self, quantity: str) -> Bounds:
        """The same bounds (computed once, shared) for one gradient ``quantity``."""
        view = Bounds(self.spec, *self.inputs, self.exact, self.expected, self.dy, quantity)
        view.known = self.known
        return view


@dataclasses.dataclass(frozen=True)
class GradientCase:
    """What a gradient check needs beside the inputs: the cotangent ``dy``, the float64
    ``reference_vjp`` at it, and the bounds of each gradient (``Bounds`` with ``dy``)."""

    dy: np.ndarray
    expected: Gradients
    bounds: Bounds

    @classmethod
    def at(cls, spec: ConvSpec, x, w, b, dy) -> GradientCase:
        """The gradient check of ``spec`` on ``x, w, b`` at the cotangent ``dy``."""
        return cls(dy, reference_vjp(spec, x, w, b, dy), Bounds(spec, x, w, b, False, None, dy))

    @property
    def quantities(self) -> tuple[str, ...]:
        """The gradients checked: dx, dw, and db where the spec has a bias."""
        return ("dx", "dw") if self.expected.db is None else ("dx", "dw", "db")


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


def _start_child(extra_backends: str) -> None:
    """A child's start: its stderr goes nowhere (a framework that aborts prints its stack
    trace there); the backends registered where it was asked for (``CONVHARNESS_BACKENDS``,
    whatever this process's environment says by the time pebble replaces a child that died);
    and no GPU memory taken ahead of use, as the sweep workers take none."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
    os.environ[EXTRA_ENV] = extra_backends
    share_gpu()


_kept: list = []  # the pool a sweep keeps for its span (``kept_child``), where one does


def _new_pool():
    """A pool of one spawned child (pebble's ProcessPool, which starts another where a
    call kills the child) that runs backends apart."""
    from pebble import ProcessPool

    return ProcessPool(1, initializer=_start_child, initargs=(os.environ.get(EXTRA_ENV, ""),),
                       context=multiprocessing.get_context("spawn"))  # no framework state is forked


def _stop(pool) -> None:
    pool.stop()
    pool.join()


@contextlib.contextmanager
def kept_child(backends: Iterable[str]):
    """One child for every check inside the block, started now with ``backends`` loaded
    there (``load_backends``, alongside what this process does next; the first check
    waits for it) and stopped when the block ends, however it ends: a sweep whose cases
    a declared crash covers pays the spawn and the imports once, not once a case. The
    block's value waits until the child has loaded them (``STARTUP_TIMEOUT`` at most);
    a child that dies loading is replaced, and the cases that need it report it."""
    pool = _new_pool()
    ready = pool.schedule(load_backends, (tuple(backends),))

    def wait() -> None:
        with contextlib.suppress(Exception):
            ready.result(timeout=STARTUP_TIMEOUT)

    _kept.append(pool)
    try:
        yield wait
    finally:
        _kept.remove(pool)
        _stop(pool)


STARTUP_TIMEOUT = 600  # seconds for a child to import its frameworks


@contextlib.contextmanager
def child_process(needed: bool):
    """The pool whose child runs backends apart: the one a sweep keeps (``kept_child``),
    else one for this check, stopped when the block ends; None where no backend runs apart."""
    if not needed:
        yield None
    elif _kept and _kept[-1].active:
        yield _kept[-1]
    else:
        pool = _new_pool()
        try:
            yield pool
        finally:
            _stop(pool)


def _run_apart(pool, task, args: tuple, options: dict):
    """``task(*args, **options)`` in ``pool``'s child; where a kept child died while idle
    (pebble then breaks its pool), in a new child of its own."""
    from concurrent.futures.process import BrokenProcessPool

    try:
        return pool.schedule(task, args, options).result()
    except BrokenProcessPool:
        fresh = _new_pool()
        try:
            return fresh.schedule(task, args, options).result()
        finally:
            _stop(fresh)


def check_backend_apart(pool, backend: str, spec: ConvSpec, expected: np.ndarray, bound, x, w, b, *,
                        device: Device = CPU, precision: str = "default",
                        gradient: GradientCase | None = None) -> tuple[Outcome, ...]:
    """``check_backend`` (and, with ``gradient``, ``check_gradients``) in ``pool``'s child
    process: a backend that kills it gives ``error`` outcomes ("crashed: ..."), and this
    process goes on. Where the backend declares the crash (its run dies, not its import)
    the outcomes have the framework's version and the call it was running, both taken
    here; an undeclared crash may have been the import, so nothing is imported here to say more."""
    from pebble import ProcessExpired

    options = dict(device=device, precision=precision)
    outcomes = []
    runs = [("y", check_backend, (backend, spec, expected, bound, x, w, b))]
    if gradient is not None:
        runs.append(("dx", check_gradients, (backend, spec, gradient, x, w, b)))
    for quantity, task, args in runs:
        try:
            done = _run_apart(pool, task, args, options)
            outcomes += [done] if quantity == "y" else done
        except ProcessExpired as died:
            version, call = "", None
            if declares_crash(backend, spec):
                adapter = get_backend(backend)
                version = adapter.version()
                plan = adapter.plan if quantity == "y" else adapter.plan_gradient
                with contextlib.suppress(Exception):  # a hand-written backend has no plan
                    call = plan(spec, device=device, precision=precision).rendered()
            for name in ("y",) if quantity == "y" else gradient.quantities:
                outcomes.append(Outcome(**_where(backend, device, precision), status=Status.ERROR, version=version,
                                        invocation=call, message=crash_message(backend, died.exitcode),
                                        quantity=name))
    return tuple(outcomes)


def start_backend(backend: str, spec: ConvSpec, x, w, b, *, device: Device = CPU,
                  precision: str = "default") -> Callable[[np.ndarray, object], Outcome]:
    """``check_backend`` in two halves: the backend's call started now (``Backend.begin``: a
    backend with a process of its own computes there while the caller goes on), and the
    function that judges its result against ``expected`` under ``bound``. Neither raises."""
    where = _where(backend, device, precision)
    try:
        adapter = get_backend(backend)
        version = adapter.version()
    except Exception as exc:  # not installed, or not importable: an outcome, never lost
        failed = Outcome(**where, status=Status.ERROR, message=f"{type(exc).__name__}: {first_line(exc)}")
        return lambda expected, bound: failed
    finish = adapter.begin(spec, x, w, b, device=device, precision=precision)

    def judged(expected: np.ndarray, bound) -> Outcome:
        attempt = finish()
        if attempt.refusal is not None or attempt.error is not None:
            return _not_run(adapter, attempt, where, version, expected)
        notes = []
        if device.accelerator:
            again = adapter.attempt(spec, x, w, b, device=device, precision=precision).result
            notes += _differs(again, attempt.result)
        return _judged(adapter, spec, attempt.result, expected, bound, where, version, attempt.call, device,
                       precision, notes)

    return judged


def check_backend(backend: str, spec: ConvSpec, expected: np.ndarray, bound, x, w, b, *, device: Device = CPU,
                  precision: str = "default") -> Outcome:
    """Run one backend and judge its result against the reference; never raises. ``bound`` is an
    array, or ``Bounds`` (then a result computed as TF32 is judged by the TF32 bound,
    and says how far outside float32's it lies). On an accelerator each result is
    computed twice: two that differ bit for bit are noted as nondeterministic.
    ``precision`` "float32" runs with the framework's float32 switches on, and the
    outcome is labelled ``backend[float32]``."""
    return start_backend(backend, spec, x, w, b, device=device, precision=precision)(expected, bound)


def start_gradients(backend: str, spec: ConvSpec, dy, x, w, b, *, device: Device = CPU,
                    precision: str = "default") -> Callable[[GradientCase], tuple[Outcome, ...]]:
    """``check_gradients`` in two halves, as ``start_backend`` is ``check_backend``'s: the
    gradient call at ``dy`` started now, and the function that judges it by ``GradientCase``."""
    where = _where(backend, device, precision)
    try:
        adapter = get_backend(backend)
        version = adapter.version()
    except Exception as exc:
        message = f"{type(exc).__name__}: {first_line(exc)}"
        return lambda gradient: tuple(Outcome(**where, status=Status.ERROR, message=message, quantity=q)
                                      for q in gradient.quantities)
    finish = adapter.begin_vjp(spec, x, w, b, dy, device=device, precision=precision)

    def judged(gradient: GradientCase) -> tuple[Outcome, ...]:
        attempt = finish()
        if attempt.refusal is not None or attempt.error is not None:
            return tuple(_not_run(adapter, attempt, where, version, getattr(gradient.expected, q), q)
                         for q in gradient.quantities)
        again = (adapter.vjp_attempt(spec, x, w, b, dy, device=device, precision=precision).result
                 if device.accelerator else None)
        return tuple(
            _judged(adapter, spec, getattr(attempt.result, q), getattr(gradient.expected, q), gradient.bounds.of(q),
                    where, version, attempt.call, device, precision,
                    _differs(None if again is None else getattr(again, q), getattr(attempt.result, q)), q)
            for q in gradient.quantities)

    return judged


def check_gradients(backend: str, spec: ConvSpec, gradient: GradientCase, x, w, b, *, device: Device = CPU,
                    precision: str = "default") -> tuple[Outcome, ...]:
    """Run the backend's gradient call at ``gradient.dy`` (``Backend.vjp_attempt``) and judge
    dx, dw and db (with a bias) against ``reference_vjp`` under ``gradient_bounds``: one
    outcome each, ``quantity`` naming it; a declared refusal (of the forward pass or of
    the autodiff) or an error gives that outcome for each. Never raises."""
    return start_gradients(backend, spec, gradient.dy, x, w, b, device=device, precision=precision)(gradient)


def _not_run(adapter, attempt, where: dict, version: str, expected, quantity: str = "y") -> Outcome:
    """The outcome of an attempt that gave no result: a declared refusal, or an error."""
    if attempt.refusal is not None:
        return Outcome(**where, status=Status.UNSUPPORTED, version=version, invocation=attempt.call,
                       message=f"{attempt.refusal.reason}: {adapter.message(attempt.error)}", expected=expected,
                       quantity=quantity)
    return Outcome(**where, status=Status.ERROR, version=version, invocation=attempt.call,  # never lost
                   message=f"{type(attempt.error).__name__}: {first_line(attempt.error)}", expected=expected,
                   quantity=quantity)


def _differs(again, got) -> list[str]:
    """The note of a second run on an accelerator that differs bit for bit from the first."""
    if again is None or np.array_equal(np.asarray(again), np.asarray(got), equal_nan=True):
        return []
    differ = float(np.max(np.abs(np.asarray(again, np.float64) - np.asarray(got, np.float64))))
    return [f"nondeterministic: a second run differs by up to {differ:.3g}"]


def _judged(adapter, spec: ConvSpec, got, expected: np.ndarray, bound, where: dict, version: str, call,
            device: Device, precision: str, notes: list[str], quantity: str = "y") -> Outcome:
    """One result judged against the float64 ``expected`` under ``bound`` (an array, or
    ``Bounds``: a result computed as TF32 is judged by the TF32 bound, and says how far
    outside the dtype's bound it lies)."""
    used = adapter.default_precision(spec, device) if precision == "default" else spec.dtype
    used = "" if used == spec.dtype else used
    bounds = bound if callable(bound) else (lambda precision="": bound)
    bound = bounds(used)
    judgement = judge(expected, got, bound)
    failed = not judgement.within_bound
    if used and not failed:
        outside = judge(expected, got, bounds()).ratio
        notes = [f"passes as {used.upper()}, {outside:.3g}x the {spec.dtype} bound", *notes]
    return Outcome.judged(
        **where, judgement=judgement, shape=np.shape(got), expected_shape=expected.shape, version=version,
        invocation=call, message="; ".join(notes), precision=used, quantity=quantity,
        errors=judgement.errors if failed else None, bound=bound if failed and judgement.shape_ok else None,
        expected=expected if failed else None,
    )


def check(spec: ConvSpec, seed: int = 0, backends: Iterable[str] | None = None, *, inputs=None,
          exact: bool = False, device: str | Device = CPU, isolate: bool | None = None, grad: bool = False,
          cotangent=None) -> CheckResult:
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

    With ``grad=True`` each backend's gradients of ``<y, dy>`` follow its output: dx, dw
    and db (with a bias) by the framework's own autodiff (``Backend.plan_gradient``), at
    the cotangent ``dy = make_cotangent(spec, seed)`` (or ``cotangent``), each judged
    against ``reference_vjp`` under ``gradient_bounds``; outcomes say which ``quantity``.
    """
    return start_check(spec, seed, backends, inputs=inputs, exact=exact, device=device, isolate=isolate, grad=grad,
                       cotangent=cotangent)()


def start_check(spec: ConvSpec, seed: int = 0, backends: Iterable[str] | None = None, *, inputs=None,
                exact: bool = False, device: str | Device = CPU, isolate: bool | None = None, grad: bool = False,
                cotangent=None) -> Callable[[], CheckResult]:
    """``check`` in two halves: the inputs made and checked and every backend's call
    started now (``start_backend``: a backend with a process of its own computes there
    meanwhile), and the function that computes the reference and judges the results;
    a backend run in a child process (``isolate``, a declared crash) runs there, after
    the reference. Bad input raises here; the returned function never raises for a
    backend's sake."""
    names = available_backends() if backends is None else tuple(backends)
    device = Device.parse(device)
    x, w, b = make_inputs(spec, seed, exact=exact) if inputs is None else inputs
    validate_inputs(spec, x, w, b)
    if exact and not holds_exactly(spec, x, w, b):
        raise ValueError("inputs: exact=True needs integer data small enough for exact sums (make_inputs(exact=True))")
    if exact and grad:
        raise ValueError("grad: gradients are checked on the seed's data under their bounds; exact=True is "
                         "for the forward pass only")
    dy = cotangent_of(spec, seed, cotangent) if grad else None
    modes = PRECISIONS if device.accelerator and spec.dtype == "float32" else ("default",)
    apart = {n: isolate if isolate is not None else declares_crash(n, spec) for n in names}
    # every call started before the reference is computed: a backend with a process of its own computes meanwhile
    judges = {(name, mode): (start_backend(name, spec, x, w, b, device=device, precision=mode),
                              None if dy is None else start_gradients(name, spec, dy, x, w, b, device=device,
                                                                      precision=mode))
               for name in names if not apart[name] for mode in modes}

    def finish() -> CheckResult:
        # an exact check's bound is zero: the magnitudes a bound is made of are not needed
        expected, magnitudes = (reference(spec, x, w, b), None) if exact else reference_and_magnitudes(spec, x, w, b)
        bounds = Bounds(spec, x, w, b, exact, expected, magnitudes=magnitudes)
        gradient = None if dy is None else GradientCase.at(spec, x, w, b, dy)
        outcomes: list[Outcome] = []
        with child_process(any(apart.values())) as pool:
            for name in names:
                for mode in modes:
                    if apart[name]:
                        outcomes += check_backend_apart(pool, name, spec, expected, bounds, x, w, b, device=device,
                                                        precision=mode, gradient=gradient)
                        continue
                    forward, backward = judges[name, mode]
                    outcomes.append(forward(expected, bounds))
                    if backward is not None:
                        outcomes += backward(gradient)
        return CheckResult(spec, seed, tuple(outcomes), exact, expected, grad)

    return finish


def cotangent_of(spec: ConvSpec, seed: int, cotangent=None) -> np.ndarray:
    """The cotangent ``dy`` of a gradient check: ``make_cotangent(spec, seed)`` unless given,
    which must then be shaped like the spec's output."""
    dy = make_cotangent(spec, seed) if cotangent is None else cotangent
    if np.shape(dy) != spec.output_shape:
        raise ValueError(f"cotangent: shape {np.shape(dy)} does not fit the spec, which needs {spec.output_shape}")
    return dy


def reproduce_command(spec: ConvSpec, seed: int, exact: bool = False, *, backends: Iterable[str] = (),
                      identity: str | None = None, grad: bool = False) -> str:
    """One line a user can paste: the spec as JSON, the seed, and the command that
    runs it again (in ``backends`` only, and both sides of ``identity`` if named;
    with the gradients, ``grad``)."""
    import shlex

    flags = "".join((f" --backends {','.join(backends)}" if backends else "",
                     f" --identity {identity}" if identity else "", " --exact" if exact else "",
                     " --grad" if grad else ""))
    return (f"spec={spec.to_json()} seed={seed}{' --exact' if exact else ''}  ->  "
            f"convharness check {shlex.quote(spec.to_json())} --seed {seed}{flags}")
