"""The machine in every record, and GPU memory shared among worker processes."""

from __future__ import annotations

import multiprocessing

import pytest

from harness import devices
from harness.records import environment
from harness.sweep import _start_worker


def test_every_record_names_the_cpu_and_the_instruction_sets_that_choose_kernels():
    cpu = environment()["cpu"]
    assert cpu == devices.cpu() and isinstance(cpu["name"], str) and cpu["name"]
    assert set(cpu["flags"]) == set(devices.KERNEL_FLAGS) & devices.cpu_flags()


@pytest.fixture
def no_gpu_settings(monkeypatch):
    for name in (*devices.GPU_SHARING, "XLA_PYTHON_CLIENT_MEM_FRACTION", "XLA_PYTHON_CLIENT_ALLOCATOR"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_workers_are_told_not_to_take_a_gpus_memory_ahead_of_use(no_gpu_settings):
    import os

    assert devices.share_gpu() == {"XLA_PYTHON_CLIENT_PREALLOCATE": "false", "TF_FORCE_GPU_ALLOW_GROWTH": "true"}
    assert os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"


def test_a_users_own_gpu_memory_setting_is_left_alone(no_gpu_settings):
    import os

    no_gpu_settings.setenv("XLA_PYTHON_CLIENT_MEM_FRACTION", "0.2")
    assert devices.share_gpu() == {} and "XLA_PYTHON_CLIENT_PREALLOCATE" not in os.environ


def test_a_sweep_worker_shares_the_gpu_before_it_loads_a_framework(no_gpu_settings):
    import os

    no_gpu_settings.setattr("harness.sweep.load_backends", lambda backends: None)
    no_gpu_settings.setattr("harness.sweep.share_cores", lambda processes: None)
    no_gpu_settings.setattr("harness.sweep.signal.signal", lambda *args: None)  # pytest keeps its Ctrl-C
    loaded, go = multiprocessing.Semaphore(0), multiprocessing.Event()
    go.set()
    _start_worker(("numpy",), 2, loaded, go)
    assert os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false" and loaded.acquire(block=False)


def test_the_report_names_the_machine_each_environment_ran_on(tmp_path):
    import html

    from harness.cli import main

    records, page = tmp_path / "r.jsonl", tmp_path / "index.html"
    spec = '{"layout": "NCW", "in_channels": 1, "out_channels": 1, "spatial": 4, "kernel": 2}'
    assert main(["check", spec, "--backends", "numpy", "--records", str(records)]) == 0
    assert main(["report", str(records), "-o", str(page)]) == 0
    assert html.escape(devices.cpu()["name"]) in page.read_text()


def test_the_report_names_the_gpu_of_records_made_on_one():
    from harness.report.environments import environment_key, machine

    env = {"platform": "Linux x86_64", "cpu": {"name": "Some CPU", "flags": ["avx2"]}, "device": "cuda:0",
           "gpu": {"name": "NVIDIA H200", "capability": "9.0", "cuda": "12.8", "cudnn": 91000}}
    assert machine(env) == ("Linux x86_64, Some CPU (avx2); "
                            "on cuda:0: NVIDIA H200, capability 9.0, cuda 12.8, cudnn 91000")
    assert environment_key(env).endswith("Some CPU, cuda:0 NVIDIA H200")
    assert "cuda" not in machine({**env, "device": None})


def test_jax_is_asked_for_its_gpus_in_a_child_process_that_takes_no_gpu_memory(monkeypatch):
    """The process that spawns the workers starts no GPU client of JAX's: it asks a child,
    which is told not to preallocate, and reads the devices' names and capabilities back."""
    import json
    import subprocess
    import sys

    asked = []

    def child(argv, **kwargs):
        asked.append((argv, kwargs["env"]))
        return subprocess.CompletedProcess(argv, 0, json.dumps([["NVIDIA H200", "9.0"], ["NVIDIA H200", "9.0"]]))

    from harness.frameworks.jax import cuda as jax_cuda
    from harness.frameworks.torch import cuda as torch_cuda

    jax_cuda.jax_gpus.cache_clear()
    monkeypatch.setattr(torch_cuda, "cuda_count", lambda: 0)
    monkeypatch.setattr(subprocess, "run", child)
    try:
        assert devices.cuda_count() == 2
        assert devices.describe(devices.Device("cuda", 1)) == {"name": "NVIDIA H200", "capability": "9.0"}
    finally:
        jax_cuda.jax_gpus.cache_clear()
    (argv, env), = asked
    assert argv[:2] == [sys.executable, "-c"] and 'jax.devices("cuda")' in argv[2]
    assert env["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"


@pytest.mark.needs("jax")
def test_the_child_that_asks_jax_runs_and_prints_the_devices_it_found():
    import json
    import subprocess
    import sys

    from harness.frameworks.jax.cuda import JAX_GPUS
    from harness.frameworks.torch.cuda import cuda_count

    run = subprocess.run([sys.executable, "-c", JAX_GPUS], capture_output=True, text=True,
                         env={**__import__("os").environ, **devices.GPU_SHARING}, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    found = json.loads(run.stdout.strip().splitlines()[-1])
    assert all(len(device) == 2 and device[0] for device in found)
    if not cuda_count():  # a machine without a GPU (CI): JAX finds none either
        assert found == []
