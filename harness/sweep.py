"""The sweep: generated cases checked outside pytest, with records and progress.

Cases come from the public strategy under a fixed Hypothesis seed, so the
same --seed gives the same cases in every environment; --shard i/n keeps
every n-th case, and --jobs runs cases in worker processes.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import gc
import itertools
import multiprocessing
import signal
import sys
import threading
import time
from concurrent.futures import as_completed
from typing import Callable, Iterable, Iterator, TextIO

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed

from .backends import available_backends, get_backend, load_backends
from .check import declares_crash, kept_child, start_check
from .records import Record, RecordWriter, environment
from .spec import ConvSpec
from .status import FAILING
from .strategies import conv_cases
from .devices import CPU, Device, share_gpu
from .threads import share_cores

def generate_cases(examples: int, seed: int, **filters) -> list[tuple[ConvSpec, int]]:
    """``examples`` distinct (spec, data seed) cases, the same for the same seed and
    filters. Hypothesis may draw a case twice: it is kept once, and as many more are
    drawn under a seed derived from ``seed`` (fewer only where ``filters`` leave fewer).
    A later round draws a few spare: each draw begins with the simplest case, a repeat."""
    cases: dict[tuple[ConvSpec, int], None] = {}
    with _ctrl_c_between_draws() as stop_if_pressed:
        for round_ in itertools.count():
            before, missing = len(cases), examples - len(cases)
            cases.update(dict.fromkeys(_draw(missing if round_ == 0 else 2 * missing + 8, seed + round_ * 2**32,
                                             filters, stop_if_pressed)))
            if len(cases) >= examples or len(cases) == before:
                return list(cases)[:examples]


@contextlib.contextmanager
def _ctrl_c_between_draws():
    """Yields a function that raises KeyboardInterrupt once Ctrl-C has been pressed.
    Raised by Python's own handler, the KeyboardInterrupt can land inside Hypothesis'
    internals, where a gc callback swallows it; so, in the main thread and where Ctrl-C
    is not ignored, the handler only notes it and the draws raise it between cases."""
    pressed = []

    def stop_if_pressed() -> None:
        if pressed:
            raise KeyboardInterrupt

    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield stop_if_pressed
        return
    previous = signal.signal(signal.SIGINT, lambda *_: pressed.append(True))
    try:
        yield stop_if_pressed
    finally:
        signal.signal(signal.SIGINT, previous)
    stop_if_pressed()


def _draw(examples: int, seed: int, filters: dict, stop_if_pressed) -> list[tuple[ConvSpec, int]]:
    """``examples`` cases as Hypothesis draws them under ``seed`` (repeats included)."""
    drawn: list[tuple[ConvSpec, int]] = []

    @settings(max_examples=examples, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @hypothesis_seed(seed)
    @given(conv_cases(**filters))
    def collect(case):
        stop_if_pressed()  # a KeyboardInterrupt passes through Hypothesis untouched
        drawn.append(case)

    collect()
    return drawn


def exact_cases(cases: list) -> tuple[list, int]:
    """The cases whose dtype can hold their sums exactly (``--exact``), and how many were left out."""
    from .inputs import can_be_exact

    kept = [case for case in cases if can_be_exact(case[1][0])]
    return kept, len(cases) - len(kept)


def declared_crash_cases(backends: tuple[str, ...] | None) -> list[tuple[ConvSpec, int]]:
    """The example of each crash that ``backends`` declare (``Backend.crashes``), data seed 0:
    swept with the generated cases, its records say which framework versions still crash."""
    examples: dict[str, ConvSpec] = {}
    for name in backends or available_backends():
        try:
            crashes = get_backend(name).crashes
        except Exception:  # not importable: its generated cases report that
            continue
        for crash in crashes:
            examples.setdefault(crash.name, ConvSpec(**crash.example))
    return [(spec, 0) for spec in examples.values()]


def select_shard(cases: list, shard: tuple[int, int]) -> list[tuple[int, object]]:
    """(case number, case) for the cases of shard i of n: every n-th, from i-1."""
    index, count = shard
    return [(number, case) for number, case in enumerate(cases) if number % count == index - 1]


@dataclasses.dataclass
class Summary:
    cases: int = 0
    counts: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    seconds: float = 0.0
    interrupted: bool = False  # Ctrl-C ended the sweep early: these are the cases that finished

    @property
    def rate(self) -> float:
        return self.cases / self.seconds if self.seconds else 0.0

    @property
    def failed(self) -> bool:
        return any(self.counts[status] for status in FAILING)

    def line(self) -> str:
        counts = " ".join(f"{status} {n}" for status, n in sorted(self.counts.items()))
        return (f"{self.cases} cases in {self.seconds:.1f} s ({self.rate:.1f} cases/s): {counts or 'nothing run'}"
                + ("  [interrupted]" if self.interrupted else ""))


class Progress:
    """A one-line progress bar on a terminal; a line per tenth elsewhere."""

    def __init__(self, total: int, stream: TextIO = sys.stderr):
        self.total, self.stream = total, stream
        self.tty = stream.isatty()
        self.next_report = max(1, total // 10)
        self.open_line = False

    def update(self, summary: Summary) -> None:
        """Show ``summary``: its cases/s is the summary's own, from one clock."""
        done = summary.cases
        if not self.tty and done < self.next_report and done != self.total:
            return
        self.next_report = done + max(1, self.total // 10)
        width = 24
        filled = width * done // max(self.total, 1)
        bad = sum(summary.counts[s] for s in FAILING)
        text = (f"[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} "
                f"{summary.rate:.1f} cases/s, {bad} failing")
        self.stream.write(("\r" + text) if self.tty else text + "\n")
        self.open_line = self.tty and done != self.total
        if self.tty and done == self.total:
            self.stream.write("\n")
        self.stream.flush()

    def close(self) -> None:
        """End a bar left mid-line (an interrupted sweep)."""
        if self.open_line:
            self.stream.write("\n")
            self.stream.flush()


def _check_case(job: tuple[int, ConvSpec, int, tuple[str, ...] | None, dict, bool, bool],
                isolate: bool | None = None) -> list[Record]:
    return _start_case(job, isolate)()


def _start_case(job: tuple[int, ConvSpec, int, tuple[str, ...] | None, dict, bool, bool],
                isolate: bool | None = None) -> Callable[[], list[Record]]:
    """The case's calls started (``start_check``), and the function that gives its records."""
    number, spec, seed, backends, env, exact, grad = job
    try:
        finish = start_check(spec, seed, backends, exact=exact, device=env.get("device", "cpu"), isolate=isolate,
                             grad=grad)
    except Exception as exc:  # raised in the case's turn, after the records of the cases before it
        failed = exc

        def raised() -> list[Record]:
            raise failed

        return raised

    def records() -> list[Record]:
        result = finish()
        return [Record.of(number, result, outcome, env) for outcome in result.outcomes]

    return records


def _start_worker(backends: tuple[str, ...] | None, processes: int, loaded, go) -> None:
    """A worker with its share of the cores as threads, and no GPU memory taken ahead
    of use; once its frameworks are loaded it says so (``loaded``, a semaphore) and
    waits for the go (an event: a worker that replaces one that died passes at once)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the sweep's to handle: it stops the workers
    share_cores(processes)
    share_gpu()  # no worker preallocates most of a GPU for itself
    load_backends(backends)
    gc.freeze()  # the frameworks' objects, out of the collector's passes (see frozen_objects): the process is ours
    loaded.release()
    go.wait()


class WorkerStartError(RuntimeError):
    """A sweep worker process died, or never got ready, before it ran a case."""


STARTUP_TIMEOUT = 600  # seconds for a worker to import its frameworks


def _wait_until_loaded(loaded, size: int, first) -> None:
    """Until all ``size`` workers have loaded the frameworks. A worker that dies
    first breaks the pool, which fails the futures at once, the ``first`` one
    scheduled among them (no case completes before the go): its callback wakes
    this wait, which ends the sweep with the reason instead of waiting for a
    process that is gone."""
    first.add_done_callback(lambda _: loaded.release())
    deadline = time.monotonic() + STARTUP_TIMEOUT
    for _ in range(size):
        if not loaded.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise WorkerStartError(f"the sweep workers did not load the frameworks within {STARTUP_TIMEOUT} s")
        if first.done():
            raise WorkerStartError(
                "a sweep worker process exited while starting, before it ran a case (its own error is printed "
                "above). Workers are spawned Python processes that import the main module again: a script that "
                "calls run_sweep with jobs > 1 or isolate must do so under `if __name__ == \"__main__\":`"
            )


def _pinpoint(job: tuple) -> list[Record]:
    """Re-run a case whose worker died with every backend in a child process, so the
    backend that crashes gets an ``error`` record and the others their outcomes."""
    return _check_case(job, isolate=True)


# Cases whose calls are under way while one is judged: a backend with a worker process of its own
# (Keras) computes them meanwhile. The window is deep because the calls' costs come in runs (a few
# 3-D float32 cases cost ten times a small one) that a shallow queue cannot hide behind this process's
# own work; a case in the window holds only its inputs and its calls.
AHEAD = 64


@contextlib.contextmanager
def frozen_objects():
    """Every object alive now (the frameworks' modules, loaded) left out of the garbage
    collector's passes inside the block (``gc.freeze``), and put back after it: with
    half a million of them, the full passes that a case's own garbage sets off took
    a tenth of a sweep. Where the process has frozen objects of its own, nothing changes."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _own_process(name: str) -> bool:
    try:
        return get_backend(name).own_process
    except Exception:  # not installed: its cases report it
        return False


def _run_here(jobs: list[tuple], backends: tuple[str, ...] | None, started) -> Iterator[list[Record]]:
    """Each case's records, computed in this process (a framework crash ends the sweep;
    the records written so far are kept). Where a backend computes in a process of its
    own (Keras: ``Backend.own_process``), the calls of the next ``AHEAD`` cases are
    started while one is judged, so that it computes them while this process computes
    the reference and the others; else each case starts as its turn comes."""
    names = available_backends() if backends is None else backends
    apart = sorted({name for _, spec, *_ in jobs for name in names if declares_crash(name, spec)})
    ahead = AHEAD if any(_own_process(name) for name in names) else 0  # else nothing computes meanwhile
    # where a declared crash covers a case, one child runs those backends for the whole sweep
    with kept_child(apart) if apart else contextlib.nullcontext(lambda: None) as child_ready:
        load_backends(backends)  # alongside the child's imports
        child_ready()
        yield from _judged_in_turn(jobs, ahead, started)


def _judged_in_turn(jobs: list[tuple], ahead: int, started) -> Iterator[list[Record]]:
    """Each case's records in the cases' order, ``ahead`` cases started before their turn."""
    with frozen_objects():
        started()
        under_way: collections.deque = collections.deque()
        for job in jobs:
            under_way.append(_start_case(job))
            if len(under_way) > ahead:
                yield under_way.popleft()()
        while under_way:
            yield under_way.popleft()()


def _run_cases(jobs: list[tuple], backends: tuple[str, ...] | None, workers: int, started) -> Iterator[list[Record]]:
    """Each case's records as it completes, from ``workers`` spawned processes
    (pebble's ProcessPool). When a framework kills its process (a segfault),
    the pool names that case (ProcessExpired) and replaces the worker: the
    case is re-run backend by backend in fresh processes to name the crashing
    backend, and the others go on. ``started`` is called once the workers have
    loaded the frameworks.
    """
    from pebble import ProcessExpired, ProcessPool

    context = multiprocessing.get_context("spawn")  # no framework state is forked
    size = min(workers, len(jobs))
    loaded, go = context.Semaphore(0), context.Event()
    pool = ProcessPool(size, initializer=_start_worker, initargs=(backends, size, loaded, go), context=context)
    try:
        futures = {pool.schedule(_check_case, (job,)): job for job in jobs}
        _wait_until_loaded(loaded, size, next(iter(futures)))
        go.set()
        started()
        for done in as_completed(futures):
            try:
                yield done.result()
            except ProcessExpired:  # this case's worker died: find the backend that killed it
                yield _pinpoint(futures[done])
    finally:
        go.set()  # a worker still waiting to start (the sweep ended early) must not hold up the shutdown
        pool.stop()
        pool.join()


def run_sweep(
    cases: Iterable[tuple[int, tuple[ConvSpec, int]]],
    *,
    backends: tuple[str, ...] | None = None,
    records: str | None = None,
    jobs: int = 1,
    progress: bool = True,
    exact: bool = False,
    isolate: bool | None = None,
    device: str | Device = CPU,
    grad: bool = False,
) -> Summary:
    """Check every case; append each outcome to ``records`` as it completes.

    With ``jobs > 1`` or ``isolate`` the cases run in worker processes, and a
    backend that kills its process becomes an ``error`` record; otherwise they
    run here (the fastest for one job). The clock starts once the frameworks
    are loaded. ``device`` "cuda[:N]" runs the cases there (see ``check``); with
    ``grad`` each case's gradients are checked too, a record each (``check(grad=True)``)."""
    env = environment(Device.parse(device))  # the device goes to the workers with it
    job_list = [(number, spec, seed, backends, env, exact, grad) for number, (spec, seed) in cases]
    summary = Summary()
    clock = {"start": time.perf_counter()}

    def started() -> None:
        if not summary.cases:
            clock["start"] = time.perf_counter()

    with RecordWriter(records) as writer:
        bar = Progress(len(job_list)) if progress else None
        isolated = jobs > 1 if isolate is None else isolate
        runs = _run_cases(job_list, backends, jobs, started) if isolated else _run_here(job_list, backends, started)
        try:
            for case_records in runs:
                writer.write(case_records)
                summary.cases += 1
                summary.counts.update(record.status for record in case_records)
                summary.seconds = time.perf_counter() - clock["start"]
                if bar:
                    bar.update(summary)
        except KeyboardInterrupt:  # the records so far are written; the workers stop as the pool shuts down
            summary.interrupted = True
        finally:
            runs.close()  # whatever ended the loop: the pool stops, the frozen objects are put back
            if bar:
                bar.close()
    return summary  # seconds as of the last case: shutting the workers down is not checking cases
