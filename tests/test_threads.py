"""Parallel workers share the cores: each sizes the frameworks' thread pools to
its share before importing them, and a count the user set is kept."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from harness.backends import available_backends
from harness.threads import THREAD_VARIABLES, cores

pytestmark = pytest.mark.skipif("torch" not in available_backends(), reason="needs torch")

TORCH_THREADS = """
from harness.threads import share_cores
share = share_cores({processes})
import torch
print(share, torch.get_num_threads())
"""


def _share_and_torch_threads(processes: int, **variables: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES} | variables
    run = subprocess.run([sys.executable, "-c", TORCH_THREADS.format(processes=processes)],
                         capture_output=True, text=True, env=env, check=True)
    return run.stdout.split()


@pytest.mark.parametrize("processes", [1, 2, 64])
def test_each_worker_runs_the_framework_on_its_share_of_the_cores(processes):
    expected = str(max(1, cores() // processes))
    assert _share_and_torch_threads(processes) == [expected, expected]


@pytest.mark.skipif(cores() < 2, reason="one core: the user's count and the share coincide")
def test_a_thread_count_the_user_set_is_kept():
    assert _share_and_torch_threads(1, OMP_NUM_THREADS="1") == ["None", "1"]
