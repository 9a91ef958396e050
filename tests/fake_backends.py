"""Wrong backends the tests register (in-process, or through CONVHARNESS_BACKENDS for
sweep workers): each one a mistake or a misbehaviour the harness must report."""

from __future__ import annotations

import os
import signal
import time


from harness.backends.base import Crash
from harness.frameworks.numpy.adapter import NumPy
from harness.frameworks.torch.adapter import TorchFunctional
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


class FlippedWeightGradient(TorchFunctional):
    """A right forward pass whose weight gradient comes back with its kernel reversed."""

    name = "flipped_weight_gradient"

    def differentiate(self, spec, body):
        steps, native = super().differentiate(spec, body)
        flipped = Step("dw", call("torch.flip", Var("dw"), tuple(range(2, 2 + spec.rank))), "the port's mistake")
        return (*steps, flipped), native


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


class DeclaresItsCrash(KillsItsProcess):
    """KillsItsProcess with its crash declared, as an adapter declares a framework's."""

    name = "declares_crash"
    crashes = (Crash("two_d", lambda spec: spec.rank == 2, "dies on every 2-D spec",
                     dict(layout="NCHW", in_channels=1, out_channels=1, spatial=3, kernel=2)),)


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


def tf32(a):
    """float32 values truncated to TF32's 10 explicit mantissa bits."""
    import numpy as np

    raw = np.ascontiguousarray(a, np.float32).view(np.uint32)
    return (raw & np.uint32(0xFFFFE000)).view(np.float32)


class _OnAnyDevice(NumPy):
    """A stand-in for a framework on a GPU, so that the device path runs on a CPU machine."""

    imports = (*NumPy.imports, "import fake_backends")

    def namespace(self):
        import fake_backends

        return {**super().namespace(), "fake_backends": fake_backends}

    def place(self, spec, device):
        return ()


class TensorFloat32(_OnAnyDevice):
    """Computes float32 as a GPU's tensor cores do by default (inputs rounded to TF32)
    and says so for accelerators, as the real adapters do."""

    name = "tf32_gpu"
    says_tf32 = True

    def capability(self, device):
        return (8, 0)

    def allows_tf32(self):
        return self.says_tf32

    def convolution(self, spec, layout, padding):
        steps, native = super().convolution(spec, layout, padding)
        rounded = tuple(Step(n, call("fake_backends.tf32", Var(n)), "as TF32") for n in ("x", "w"))
        return (*rounded, *steps), native + 2


class Tf32Unsaid(TensorFloat32):
    """The same results, but not declared as TF32: judged by the float32 bound."""

    name = "tf32_unsaid"
    says_tf32 = False


RUNS = {"count": 0}


def jitter(y):
    RUNS["count"] += 1
    return y + RUNS["count"] * 1e-7 * y


class Nondeterministic(_OnAnyDevice):
    """Right within the bound, but never the same bits twice, as cuDNN may pick another algorithm."""

    name = "nondeterministic"

    def convolution(self, spec, layout, padding):
        steps, native = super().convolution(spec, layout, padding)
        return (*steps, Step("y", call("fake_backends.jitter", Var("y")))), native
