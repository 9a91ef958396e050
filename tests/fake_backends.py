"""Wrong backends the tests register (in-process, or through CONVHARNESS_BACKENDS for
sweep workers): each one a mistake or a misbehaviour the harness must report."""

from __future__ import annotations

import os
import signal
import time

import numpy as np

from harness.backends.base import Backend
from harness.backends.numpy import NumPy


class FlippedKernel(NumPy):
    """A wrong port: true convolution instead of cross-correlation."""

    name = "flipped"

    def _run(self, spec, x, w, b, script):
        flipped = np.flip(w, axis=tuple(range(2, 2 + spec.rank)))
        return super()._run(spec, x, flipped, b, script)


class Crashing(Backend):
    """Raises something no refusal declares."""

    name = "crashing"
    module = "numpy"

    def _run(self, spec, x, w, b, script):
        raise RuntimeError("segfault avoided\nsecond line")


class WrongShape(Backend):
    name = "wrong-shape"
    module = "numpy"

    def _run(self, spec, x, w, b, script):
        script.conv("y = np.zeros((1, 1))")
        return np.zeros((1, 1))


class WrongChannelsLast(NumPy):
    """Right for channels-first layouts, a flipped kernel for channels-last ones:
    an identity between the two breaks on the channels-last side."""

    name = "wrong_channels_last"

    def _run(self, spec, x, w, b, script):
        if spec.channels_last:
            w = np.flip(w, axis=tuple(range(2, 2 + spec.rank)))
        return super()._run(spec, x, w, b, script)


class SlowCase(NumPy):
    """Right, and 50 ms a case: a sweep long enough to interrupt."""

    name = "slow_case"

    def _run(self, spec, x, w, b, script):
        time.sleep(0.05)
        return super()._run(spec, x, w, b, script)


class KillsItsProcess(NumPy):
    """Dies with SIGSEGV on 2-D specs, as a framework's segfault would; right otherwise."""

    name = "kills"

    def _run(self, spec, x, w, b, script):
        if spec.rank == 2:
            os.kill(os.getpid(), signal.SIGSEGV)
        return super()._run(spec, x, w, b, script)


class DiesHoldingTheSlotLock(NumPy):
    """Dies by SIGKILL holding the lock of the worker's shared case slot, where
    that slot has one: the pool terminates the other workers when one dies, and
    a process can be stopped at any instruction, that one included."""

    name = "dies_holding_lock"

    def _run(self, spec, x, w, b, script):
        from harness import sweep

        slots, _ = sweep._SLOT
        if hasattr(slots, "get_lock"):
            slots.get_lock().acquire()
        os.kill(os.getpid(), signal.SIGKILL)


class DiesWhileLoading(NumPy):
    """Kills its process as its framework is imported, as a framework crashing on import would."""

    name = "dies_loading"

    def load(self) -> None:
        os.kill(os.getpid(), signal.SIGSEGV)


class SlowToLoad(NumPy):
    """Takes 1.5 s to import its framework (three times the startup timeout the
    test sets); right otherwise."""

    name = "slow_loading"

    def load(self) -> None:
        time.sleep(1.5)
