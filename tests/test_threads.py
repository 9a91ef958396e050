"""Parallel workers share the cores: each sets the frameworks' thread counts to
its share before importing them, and a count the user set is left alone."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from helpers import SLOW

from harness.threads import THREAD_VARIABLES, cores, share_cores


@pytest.fixture
def no_thread_settings(monkeypatch):
    """None of the variables set; afterwards each as it was (setenv records even
    an unset variable, so what share_cores sets is taken back too)."""
    for name in THREAD_VARIABLES:
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


@pytest.mark.parametrize("processes", [1, 2, 64])
def test_each_worker_takes_its_share_of_the_cores_and_at_least_one(no_thread_settings, processes):
    share = share_cores(processes)
    assert share == max(1, cores() // processes)
    assert {name: os.environ[name] for name in THREAD_VARIABLES} == dict.fromkeys(THREAD_VARIABLES, str(share))


def test_a_thread_count_the_user_set_leaves_all_of_them_alone(no_thread_settings, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert share_cores(2) is None
    assert [os.environ.get(name) for name in THREAD_VARIABLES] == ["3", None, None, None]


@SLOW
@pytest.mark.needs("torch")
def test_torch_started_after_the_share_runs_that_many_threads():
    code = "from harness.threads import share_cores\nshare = share_cores(2)\nimport torch\nprint(share, torch.get_num_threads())"
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    share = max(1, cores() // 2)
    assert run.stdout.split() == [str(share), str(share)]


def test_the_thread_variables_are_pytorchs_and_tensorflows_pools():
    assert THREAD_VARIABLES == ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                                "TF_NUM_INTEROP_THREADS")
