"""The machine a result comes from, and how several processes share one GPU.

Framework results depend on the hardware, not only on the versions: oneDNN
picks its kernels by the CPU's instruction sets (TensorFlow 2.20/2.21's
oneDNN conv bug, PyTorch's bfloat16 conv3d on AMX-BF16), and a GPU's
float32 convolutions run as TF32 by default. ``cpu()`` names the CPU and the
flags that choose those kernels, for every record.

Worker processes (sweep jobs, pytest-xdist workers, Keras workers) on one GPU
must not each take most of its memory: JAX preallocates 75% of it in every
process and TensorFlow maps all of it, unless told otherwise. ``share_gpu``
tells them, before their import, unless the user already has.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import platform
from pathlib import Path
from typing import Callable

# instruction sets that decide which oneDNN (and XLA CPU) kernels run
KERNEL_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_fp16")
GPU_SHARING = {"XLA_PYTHON_CLIENT_PREALLOCATE": "false", "TF_FORCE_GPU_ALLOW_GROWTH": "true"}


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU's feature flags as Linux reports them (none elsewhere)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return frozenset()
    return frozenset(word for line in text.splitlines() if line.startswith("flags") for word in line.split()[2:])


@functools.cache
def cpu() -> dict:
    """The CPU's model name and which of ``KERNEL_FLAGS`` it has."""
    name = platform.processor() or platform.machine()
    try:
        name = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    flags = cpu_flags()
    return {"name": name, "flags": [flag for flag in KERNEL_FLAGS if flag in flags]}


def share_gpu() -> dict[str, str]:
    """Set, in this process's environment, what keeps JAX and TensorFlow from taking
    most of a GPU's memory in each process, where the user has set none of it;
    returns what was set. Call before the frameworks are imported (they read it
    then); harmless on a machine without a GPU."""
    if any(name in os.environ for name in (*GPU_SHARING, "XLA_PYTHON_CLIENT_MEM_FRACTION",
                                           "XLA_PYTHON_CLIENT_ALLOCATOR")):
        return {}
    os.environ.update(GPU_SHARING)
    return dict(GPU_SHARING)


PRECISIONS = ("default", "float32")  # float32 specs as the framework runs them by default, or forced to float32


@dataclasses.dataclass(frozen=True)
class Device:
    """Where the frameworks compute: the CPU, or CUDA device ``index``."""

    kind: str = "cpu"
    index: int = 0

    @classmethod
    def parse(cls, text: str | Device | None) -> Device:
        if text is None or isinstance(text, Device):
            return text or CPU
        kind, _, index = str(text).partition(":")
        if kind == "cpu" and not index:
            return CPU
        if kind == "cuda" and (not index or index.isdigit()):
            return cls("cuda", int(index or 0))
        raise ValueError(f"device={text!r}: must be cpu, cuda or cuda:N")

    @property
    def accelerator(self) -> bool:
        return self.kind != "cpu"

    def __str__(self) -> str:
        return "cpu" if self.kind == "cpu" else f"{self.kind}:{self.index}"


CPU = Device()


def _cuda_hooks() -> list[tuple[str, Callable[[], int], Callable[[int], dict]]]:
    """(package, count, describe) of every framework package that declares ``CUDA``, in registry order."""
    from . import frameworks

    return [(name, frameworks.public(name, hooks["count"]), frameworks.public(name, hooks["describe"]))
            for name, hooks in frameworks.declared("CUDA")]


def cuda_count() -> int:
    """The CUDA devices the first framework package that sees any can see (each package's
    ``CUDA`` hooks, in registry order: PyTorch's, asked of NVML, before JAX's, asked in a
    child process); asked only when a CUDA device is."""
    for _, count, _ in _cuda_hooks():
        if found := count():
            return found
    return 0


def require(device: Device) -> Device:
    """``device``, or ValueError (naming the field) where no framework here can reach it."""
    if device.accelerator:
        found = cuda_count()
        if device.index >= found:
            seeing = " and ".join(name for name, _, _ in _cuda_hooks())
            raise ValueError(f"device={device}: no such CUDA device here ({seeing} see {found})")
    return device


def describe(device: Device) -> dict:
    """What the frameworks tell of a CUDA device (the first package whose ``CUDA`` hooks see
    it): its name, compute capability, and where known the CUDA and cuDNN versions it was
    built with (nothing for the CPU: see ``cpu``)."""
    if not device.accelerator:
        return {}
    for _, count, described in _cuda_hooks():
        if count() > device.index:
            return described(device.index)
    raise ValueError(f"device={device}: no such CUDA device here")
