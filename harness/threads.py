"""Framework thread pools sized to a process's share of the cores.

PyTorch (OpenMP, MKL) and TensorFlow (its intra-op and inter-op pools) each
start as many threads as the machine has cores. Several processes doing that on
the same cores oversubscribe them, and the threads spend their time waiting on
one another: two test or sweep workers on two cores then run little faster
than one process. Each of ``processes`` workers therefore takes
``cores // processes`` threads. The frameworks read these variables when they
start, so the call must come before their import. Where the user has set any
of them, the thread counts are the user's and nothing is changed.
"""

from __future__ import annotations

import os

from . import frameworks

# what each framework package declares (its THREAD_VARIABLES); reading them imports no framework
THREAD_VARIABLES = frameworks.thread_variables()


def cores() -> int:
    """The cores this process may run on (its affinity, where the platform says)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def share_cores(processes: int) -> int | None:
    """Set the framework thread counts of this process to its share of the cores
    among ``processes`` workers and return it; None, changing nothing, where the
    user has set a thread count."""
    if any(name in os.environ for name in THREAD_VARIABLES):
        return None
    threads = max(1, cores() // max(1, processes))
    os.environ.update(dict.fromkeys(THREAD_VARIABLES, str(threads)))
    return threads
