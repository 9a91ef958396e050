"""The Keras worker: a spawned process with Keras imported under one Keras backend,
running the call values the adapter plans. KERAS_BACKEND is read once, when Keras is
imported, so each Keras backend computes in a process of its own: pebble's
ProcessPool of one worker, which replaces a worker that dies. Like every spawned
process, the worker imports the main module again (a script's unguarded top level
runs there too), before it imports Keras."""

from __future__ import annotations

import gc
import importlib
import multiprocessing
import os
import weakref
from typing import Any, Callable

import numpy as np

from ...backends.base import run_call
from ...gradients import Gradients
from ...threads import share_cores

_started: dict = {}  # in the worker: its Keras backend, and the namespace or the error its start gave


class WorkerError(Exception):
    """What the Keras worker raised, by its type's name and its message (a framework's
    own exception need not survive pickling)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(kind, message)

    def __str__(self) -> str:
        return ": ".join(self.args)


class KerasWorker:
    """One Keras backend's worker process, started here and ready (Keras imported)."""

    def __init__(self, keras_backend: str) -> None:
        self.keras_backend = keras_backend
        self.pool, self._stop_at_exit = None, None
        self.versions = self.call(_versions)

    def _running_pool(self):
        """The pool, started anew where it broke: pebble replaces a worker that dies
        in a case, but one that dies idle or starting breaks its pool."""
        from pebble import ProcessPool

        from ..tensorflow import log_level

        if self.pool is None or not self.pool.active:
            if self._stop_at_exit is not None:
                self._stop_at_exit()  # the broken pool's threads, now
            self.pool = ProcessPool(1, initializer=_initialize, initargs=(self.keras_backend, log_level()),
                                    context=multiprocessing.get_context("spawn"))  # no framework state is forked
            self._stop_at_exit = weakref.finalize(self, _stop, self.pool)
        return self.pool

    def submit(self, function, *args) -> Callable[[], Any]:
        """``function(*args)`` sent to the worker now; the returned function waits for what
        it returns (or raises). A worker that dies in the call raises RuntimeError naming its
        exit status, and the next call runs in a new worker; one found dead before the call
        is replaced, and the call runs in the new one."""
        return self._submit(function, args, retry=True)

    def _submit(self, function, args: tuple, retry: bool) -> Callable[[], Any]:
        from concurrent.futures.process import BrokenProcessPool

        from pebble import ProcessExpired

        ran_before = self.pool is not None and self.pool.active
        pool = self._running_pool()
        future = pool.schedule(function, args)

        def result():
            try:
                while True:
                    try:
                        return future.result(timeout=1.0)
                    except TimeoutError:  # still running, or queued in a pool that broke: pebble leaves those
                        if not pool.active and not future.done():
                            raise BrokenProcessPool("the Keras worker's pool stopped before it ran the call") from None
            except ProcessExpired as died:
                raise RuntimeError(f"the Keras worker process ended (exit status {died.exitcode})") from None
            except BrokenProcessPool:  # pebble's word for a worker that died holding no call
                if not (retry and ran_before):
                    raise RuntimeError("the Keras worker process ended before it ran the call (while starting: "
                                       "its own error is printed above)") from None
                return self._submit(function, args, retry=False)()  # once more, in a new worker

        return result

    def call(self, function, *args):
        """``function(*args)`` in the worker, waited for (``submit``)."""
        return self.submit(function, *args)()

    def start(self, planned, x, w, b, dy=None) -> Callable[[], Any]:
        """The ``planned`` call value sent to the worker on NumPy ``x, w, b`` (and ``dy``, for a
        gradient call); the returned function waits for its ``y`` as NumPy, or a gradient
        call's Gradients."""
        return self.submit(_run, planned, x, w, b, dy)


def _stop(pool) -> None:
    pool.stop()
    pool.join()


def worker_environment(keras_backend: str, log_level: str) -> dict[str, str]:
    """The variables a worker sets before it imports a framework: its Keras backend,
    TensorFlow's log level, and no GPU (each Keras backend takes a GPU it sees, and
    the workers compute on the CPU)."""
    return {"KERAS_BACKEND": keras_backend, "TF_CPP_MIN_LOG_LEVEL": log_level, "CUDA_VISIBLE_DEVICES": ""}


def _initialize(keras_backend: str, log_level: str) -> None:
    """The worker's initializer: import Keras under ``keras_backend``. An error is kept
    and raised by each call (pebble would only log it and start the worker again)."""
    os.dup2(2, 1)  # what Keras or a framework prints goes to stderr, as the worker's other words do
    os.environ.update(worker_environment(keras_backend, log_level))
    # the worker computes while the process it serves computes too (the reference, the other
    # backends, the next case's start): its thread pools take half the cores, as each of two sweep
    # workers' do, unless the user set the thread counts (or the main module, imported again here
    # first, imported a framework); whole-core pools spin-waited against that process
    share_cores(2)
    _started["backend"] = keras_backend
    try:
        if keras_backend == "jax":
            from ..jax import configure_process

            configure_process()  # x64 on, and the persistent compilation cache the jax backend keeps
        if keras_backend == "tensorflow":
            from ..tensorflow import import_tensorflow

            import_tensorflow().get_logger().setLevel("ERROR")  # imported quietly, and no notes on retracing each new shape
        import keras
        import ml_dtypes

        if keras.backend.backend() != keras_backend:  # a main module that imports Keras, imported again by spawn
            keras.config.set_backend(keras_backend)
            keras = importlib.import_module("keras")
        framework = importlib.import_module(keras_backend)
        _started["namespace"] = {"keras": keras, "np": np, "ml_dtypes": ml_dtypes, keras_backend: framework}
        gc.freeze()  # the frameworks' objects, out of the collector's passes (harness.sweep.frozen_objects)
    except Exception as exc:
        _started["error"] = WorkerError(type(exc).__name__, str(exc))


def _namespace() -> dict:
    if "error" in _started:
        raise _started["error"]
    return _started["namespace"]


def _versions() -> tuple[str, str]:
    """Keras' version and its backend framework's."""
    namespace = _namespace()
    return namespace["keras"].__version__, getattr(namespace[_started["backend"]], "__version__", "unknown")


def _run(planned, x, w, b, dy=None):
    namespace = _namespace()
    try:
        result = run_call(planned, x, w, b, namespace, dy)
        return result if isinstance(result, Gradients) else np.asarray(result)
    except Exception as exc:
        raise WorkerError(type(exc).__name__, str(exc)) from None

