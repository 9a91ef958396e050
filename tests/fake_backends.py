"""Wrong backends the tests register (in-process, or through CONVHARNESS_BACKENDS for
sweep workers): each one a mistake or a misbehaviour the harness must report."""

from __future__ import annotations

import os
import signal
import time

import numpy as np

from harness.backends import get_backend
from harness.backends.base import Backend


class FlippedKernel(Backend):
    """A wrong port: true convolution instead of cross-correlation."""

    name = "flipped"
    module = "numpy"

    def _run(self, spec, x, w, b, script):
        flipped = np.flip(w, axis=tuple(range(2, 2 + spec.rank)))
        return get_backend("numpy")._run(spec, x, flipped, b, script)


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


class KillsItsProcess(Backend):
    """Dies with SIGSEGV on 2-D specs, as a framework's segfault would; right otherwise."""

    name = "kills"
    module = "numpy"

    def _run(self, spec, x, w, b, script):
        if spec.rank == 2:
            os.kill(os.getpid(), signal.SIGSEGV)
        return get_backend("numpy")._run(spec, x, w, b, script)


class DiesWhileLoading(Backend):
    """Kills its process as its framework is imported, as a framework crashing on import would."""

    name = "dies_loading"
    module = "numpy"

    def load(self) -> None:
        os.kill(os.getpid(), signal.SIGSEGV)

    def _run(self, spec, x, w, b, script):
        return get_backend("numpy")._run(spec, x, w, b, script)


class SlowToLoad(Backend):
    """Takes 3 s to import its framework; right otherwise."""

    name = "slow_loading"
    module = "numpy"

    def load(self) -> None:
        time.sleep(3)

    def _run(self, spec, x, w, b, script):
        return get_backend("numpy")._run(spec, x, w, b, script)
