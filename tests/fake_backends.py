"""Wrong backends the tests register (in-process, or through CONVHARNESS_BACKENDS for
sweep workers): each one a mistake or a misbehaviour the harness must report."""

from __future__ import annotations

import os
import signal
import time


from harness.backends.numpy import NumPy
from harness.calls import Step, Var, call


def _flipped_kernel(spec):
    """The step that reverses the kernel along every spatial axis."""
    return Step("w", call("np.flip", Var("w"), axis=tuple(range(2, 2 + spec.rank))), "the port's mistake")


class FlippedKernel(NumPy):
    """A wrong port: true convolution instead of cross-correlation."""

    name = "flipped"

    def convolution(self, spec, layout, padding):
        steps, native = super().convolution(spec, layout, padding)
        return (_flipped_kernel(spec), *steps), native + 1


def crash(x):
    raise RuntimeError("segfault avoided\nsecond line")


class Crashing(NumPy):
    """Raises something no refusal declares, in its convolution call."""

    name = "crashing"
    imports = (*NumPy.imports, "import fake_backends")

    def namespace(self):
        import fake_backends

        return {**super().namespace(), "fake_backends": fake_backends}

    def convolution(self, spec, layout, padding):
        return (Step("y", call("fake_backends.crash", Var("x"))),), 0


class WrongShape(NumPy):
    name = "wrong-shape"

    def convolution(self, spec, layout, padding):
        return (Step("y", call("np.zeros", (1, 1))),), 0


class WrongChannelsLast(NumPy):
    """Right for channels-first layouts, a flipped kernel for channels-last ones:
    an identity between the two breaks on the channels-last side."""

    name = "wrong_channels_last"

    def convolution(self, spec, layout, padding):
        steps, native = super().convolution(spec, layout, padding)
        return ((_flipped_kernel(spec), *steps), native + 1) if spec.channels_last else (steps, native)


class SlowCase(NumPy):
    """Right, and 50 ms a case: a sweep long enough to interrupt."""

    name = "slow_case"

    def execute(self, planned, x, w, b):
        time.sleep(0.05)
        return super().execute(planned, x, w, b)


class KillsItsProcess(NumPy):
    """Dies with SIGSEGV on 2-D specs, as a framework's segfault would; right otherwise."""

    name = "kills"

    def execute(self, planned, x, w, b):
        if len(x.shape) == 4:
            os.kill(os.getpid(), signal.SIGSEGV)
        return super().execute(planned, x, w, b)


class KilledMidCase(NumPy):
    """Killed by SIGKILL in the middle of every case, as the kernel's OOM killer would."""

    name = "killed_mid_case"

    def execute(self, planned, x, w, b):
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
