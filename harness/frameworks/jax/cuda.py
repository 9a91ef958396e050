"""The CUDA devices JAX sees (the package's ``CUDA`` hooks, asked by ``harness.devices``)."""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import subprocess
import sys

from ...devices import GPU_SHARING

# JAX starts its GPU client (a CUDA context on every device) when asked for its devices:
# asked in a child process, so the process that spawns the workers holds none
JAX_GPUS = """
import json, jax
try:
    found = jax.devices("cuda")
except RuntimeError:  # no CUDA platform in this jaxlib, or no device
    found = []
print(json.dumps([[d.device_kind, str(getattr(d, "compute_capability", ""))] for d in found]))
"""


@functools.cache
def jax_gpus() -> tuple[tuple[str, str], ...]:
    """JAX's CUDA devices as (name, compute capability), asked in a child process."""
    if importlib.util.find_spec("jax") is None:
        return ()
    run = subprocess.run([sys.executable, "-c", JAX_GPUS], capture_output=True, text=True,
                         env={**os.environ, **GPU_SHARING})
    if run.returncode != 0:
        return ()
    return tuple(tuple(found) for found in json.loads(run.stdout.strip().splitlines()[-1]))


def cuda_count() -> int:
    """How many CUDA devices JAX sees."""
    return len(jax_gpus())


def describe_cuda(index: int) -> dict:
    """CUDA device ``index`` as JAX tells it: its name and compute capability."""
    name, capability = jax_gpus()[index]
    return {"name": name, "capability": capability}
