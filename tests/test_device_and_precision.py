"""A device and a precision mode for every call. Everything here runs on a CPU:
the real frameworks' float32 switches (set for the call, shown with it, put back
after it), their declared refusals of a CUDA device this machine lacks, and the
accelerator path itself through stand-in backends that compute as a GPU would
(TF32, nondeterministic). Tests that need a real CUDA device are at the end,
skipped where there is none."""

from __future__ import annotations

import contextlib

import pytest

from harness import ConvSpec, check
from harness.backends import get_backend
from harness import calls
from harness.check import check_backend
from harness.devices import Device
from harness.inputs import make_inputs
from harness.reference import reference
from harness.tolerance import error_bound
from helpers import FRAMEWORK_BACKENDS, IMPORTS_TENSORFLOW, installed

pytestmark = IMPORTS_TENSORFLOW

SPEC = ConvSpec(layout="NCHW", in_channels=64, out_channels=4, spatial=6, kernel=1, bias=True)


def test_a_device_is_cpu_cuda_or_cuda_n_and_nothing_else():
    assert str(Device.parse("cpu")) == "cpu" and str(Device.parse("cuda")) == "cuda:0"
    assert Device.parse("cuda:2") == Device("cuda", 2) and Device.parse(None) == Device()
    for bad in ("gpu", "cuda:x", "cpu:1", "cuda:-1"):
        with pytest.raises(ValueError, match=f"device='{bad}': must be cpu, cuda or cuda:N"):
            Device.parse(bad)


def cuda_here() -> bool:
    if not installed("torch"):
        return False
    import torch

    return torch.cuda.is_available()


@pytest.mark.skipif(cuda_here(), reason="this machine has a CUDA device")
def test_without_a_cuda_device_every_backend_declares_it_cannot_compute_there():
    result = check(SPEC, backends=("numpy", *FRAMEWORK_BACKENDS), device="cuda")
    assert {o.backend.split("[")[0] for o in result.outcomes} == {"numpy", *FRAMEWORK_BACKENDS}
    bad = [(o.backend, o.status, o.message) for o in result.outcomes if o.status != "unsupported"]
    assert not bad, bad
    assert all(o.device == "cuda:0" and "cannot compute on the device" in o.message for o in result.outcomes)


SWITCHES = {  # backend: how to read its float32 switch, the value that means float32
    "torch": (lambda: __import__("torch").backends.cudnn.conv.fp32_precision, "ieee",
              "torch.backends.cudnn.conv.fp32_precision = 'ieee'"),
    "jax": (lambda: __import__("jax").config.jax_default_matmul_precision, "highest",
            "jax.config.update('jax_default_matmul_precision', 'highest')"),
    "tensorflow": (lambda: __import__("tensorflow").config.experimental.tensor_float_32_execution_enabled(), False,
                   "tf.config.experimental.enable_tensor_float_32_execution(False)"),
}


@pytest.mark.parametrize("backend", installed(*SWITCHES))
def test_float32_mode_sets_the_frameworks_switch_for_the_call_shows_it_and_puts_it_back(backend, monkeypatch):
    read, forced, line = SWITCHES[backend]
    adapter = get_backend(backend)
    adapter.load()
    before = read()
    seen = []
    real = calls.applied

    @contextlib.contextmanager
    def spied(settings, modules):  # the switch as the framework reads it while the call runs
        with real(settings, modules):
            seen.append(read())
            yield

    for module in ("harness.backends.base", "harness.frameworks.jax.adapter"):
        monkeypatch.setattr(f"{module}.applied", spied)
    x, w, b = make_inputs(SPEC, 0)
    outcome = check_backend(backend, SPEC, reference(SPEC, x, w, b), error_bound(SPEC, x, w, b), x, w, b,
                    precision="float32")
    assert outcome.backend == f"{backend}[float32]" and outcome.status == "pass", outcome
    assert line in outcome.invocation.standalone()
    assert seen == [forced] and read() == before  # in force for the call only
    plain = adapter.plan(SPEC).rendered().standalone()
    assert line not in plain and line not in adapter.plan(SPEC.replace(dtype="float64"), precision="float32") \
        .rendered().standalone()  # only float32 specs have a TF32 to switch off


def test_a_tf32_result_on_an_accelerator_passes_as_tf32_and_says_how_far_outside_float32(stand_ins):
    result = check(SPEC, backends=["tf32_gpu", "tf32_unsaid"], device="cuda")
    by_name = {o.backend: o for o in result.outcomes}
    assert set(by_name) == {"tf32_gpu", "tf32_gpu[float32]", "tf32_unsaid", "tf32_unsaid[float32]"}
    said = by_name["tf32_gpu"]
    assert (said.status, said.precision) == ("pass", "tf32"), said
    outside = float(said.message.split("passes as TF32, ")[1].split("x")[0])
    assert outside > 1, said.message  # 64 products: far outside float32's bound, inside TF32's
    assert by_name["tf32_unsaid"].status == "mismatch"  # the same numbers, held to float32
    assert by_name["tf32_gpu[float32]"].status == "mismatch"  # a float32 switch the stand-in ignores: caught
    from harness import table

    row = next(line for line in table.outcomes(result).splitlines() if line.split()[0] == "tf32_gpu")
    assert "pass as tf32" in row and "[passes as TF32, " in row


def test_results_that_differ_between_two_runs_on_an_accelerator_are_noted(stand_ins):
    outcome = check(SPEC, backends=["nondeterministic"], device="cuda").outcomes[0]
    assert outcome.status == "pass" and "nondeterministic: a second run differs by up to" in outcome.message
    assert "nondeterministic" not in check(SPEC, backends=["nondeterministic"]).outcomes[0].message  # CPU: once


cuda = pytest.mark.skipif(not cuda_here(), reason="needs a CUDA device (torch.cuda.is_available() is False)")


@cuda
@pytest.mark.parametrize("backend", installed("torch", "jax", "tensorflow"))
def test_on_a_gpu_float32_passes_forced_and_by_default_as_its_precision(backend):
    if backend == "tensorflow":
        from harness.frameworks.tensorflow.adapter import _gpus

        if not _gpus():
            pytest.skip("this TensorFlow has no GPU (tensorflow-cpu)")
    big = ConvSpec(layout="NCHW", batch=2, in_channels=64, out_channels=64, spatial=28, kernel=3, padding=1)
    result = check(big, backends=[backend], device="cuda")
    assert {o.status for o in result.outcomes} == {"pass"}, [(o.backend, o.ratio, o.message) for o in result.outcomes]
    assert result.outcomes[1].backend == f"{backend}[float32]" and result.outcomes[1].precision == ""


def test_the_commands_take_a_device_and_refuse_one_that_is_not_here_in_one_line(capsys, monkeypatch):
    from harness.cli import main

    monkeypatch.setattr("harness.devices.share_gpu", lambda: {})  # this process's environment stays as it is

    spec = '{"layout": "NCW", "in_channels": 1, "out_channels": 1, "spatial": 4, "kernel": 2}'
    assert main(["check", spec, "--backends", "numpy", "--device", "cpu"]) == 0
    bad = (["check", spec, "--device", "gpu"], ["sweep", "--device", "cuda:x"], ["port", "m:f", "--device", "tpu"])
    for argv in bad:
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "must be cpu, cuda or cuda:N" in err, err
    if not cuda_here():
        assert main(["check", spec, "--device", "cuda:7"]) == 2
        assert "device=cuda:7: no such CUDA device here" in capsys.readouterr().err


@pytest.mark.needs("jax")
def test_where_jax_defaults_to_a_gpu_the_cpu_asked_for_is_named_in_the_call(monkeypatch):
    import jax

    assert "device_put" not in get_backend("jax").plan(SPEC).rendered().standalone()  # the CPU is JAX's default here
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    outcome = check(SPEC, backends=["jax"]).outcomes[0]
    assert outcome.status == "pass" and "x = jax.device_put(x, jax.devices('cpu')[0])" in outcome.invocation.inputs


@pytest.mark.needs("tensorflow")
def test_where_tensorflow_sees_a_gpu_its_call_runs_inside_tf_device_naming_the_device_asked_for(monkeypatch):
    """A TensorFlow with a GPU computes there by default: every call says where it runs.
    The GPU list is a stand-in; TensorFlow's soft placement runs '/GPU:0' on the CPU here."""
    from harness.frameworks.tensorflow import adapter as tf_backend

    adapter = get_backend("tensorflow")
    plain = SPEC.replace(bias=False)
    x, w, _ = make_inputs(plain)
    cotangent = make_inputs(plain.replace(in_channels=plain.out_channels), 1)[0]  # shaped like the output
    unscoped = adapter.gradients(plain, x, w, None, cotangent)[0]
    if not tf_backend._gpus():
        assert adapter.plan(SPEC).scope is None  # tensorflow-cpu: no GPU, and nothing to name
    monkeypatch.setattr(tf_backend, "_gpus", lambda: ("GPU 0",))
    import tensorflow as tf

    entered, device = [], tf.device
    monkeypatch.setattr(tf, "device", lambda name: entered.append(name) or device(name))
    scoped = adapter.gradients(plain, x, w, None, cotangent)[0]
    assert (scoped.dx == unscoped.dx).all() and (scoped.dw == unscoped.dw).all() and entered == ["/CPU:0"]
    outcome = check(SPEC, backends=["tensorflow"]).outcomes[0]
    assert outcome.status == "pass", outcome.message
    lines = outcome.invocation.standalone().splitlines()
    assert lines[len(outcome.invocation.imports)] == "with tf.device('/CPU:0'):"
    assert all(line.startswith("    ") for line in lines[len(outcome.invocation.imports) + 1:])
    assert adapter.plan(SPEC, device=Device("cuda", 0)).rendered().scope == "tf.device('/GPU:0')"
    missing = adapter.attempt(SPEC, *make_inputs(SPEC), device=Device("cuda", 1))
    assert missing.refusal is not None and "this TensorFlow sees no GPU 1 (1 found)" in str(missing.error)


@pytest.mark.needs("tensorflow")
def test_tensorflow_reports_tf32_for_float32_from_compute_capability_8_while_its_switch_is_on(monkeypatch):
    import tensorflow as tf

    from harness.frameworks.tensorflow import adapter as tf_backend

    adapter, gpu = get_backend("tensorflow"), Device("cuda", 0)
    monkeypatch.setattr(tf_backend, "_gpus", lambda: ("GPU 0",))
    for capability, expected in (((9, 0), "tf32"), ((8, 0), "tf32"), ((7, 5), "float32")):
        monkeypatch.setattr(tf.config.experimental, "get_device_details", lambda _: {"compute_capability": capability})
        assert adapter.default_precision(SPEC, gpu) == expected, capability
        assert adapter.default_precision(SPEC.replace(dtype="float16"), gpu) == "float16"
        assert adapter.default_precision(SPEC, Device()) == "float32"
    monkeypatch.setattr(tf.config.experimental, "get_device_details", lambda _: {"compute_capability": (9, 0)})
    with calls.applied(adapter.float32_settings(), adapter.namespace()):
        assert adapter.default_precision(SPEC, gpu) == "float32"


@pytest.mark.needs("keras.torch")
def test_the_keras_workers_see_no_gpu():
    """Each Keras backend computes on a GPU it sees, whatever the device asked for: the
    workers, which compute on the CPU only, see none (asked in the worker itself)."""
    import os

    worker = get_backend("keras.torch").worker()
    assert worker.call(os.getenv, "CUDA_VISIBLE_DEVICES") == ""
    assert worker.call(os.getenv, "KERAS_BACKEND") == "torch"


def test_the_report_keeps_a_backends_gpu_results_apart_from_its_cpu_results(stand_ins):
    from harness.records import Record, environment
    from harness.report.page import build

    records = [Record.of(0, result, outcome, environment())
               for device in ("cpu", "cuda") for result in [check(SPEC, backends=["tf32_gpu"], device=device)]
               for outcome in result.outcomes]
    report = build(records)
    rows = [version for version, _ in report.matrix.rows]
    assert len(rows) == 3 and sum(version.endswith(" on cuda:0") for version in rows) == 2, rows
    assert {backend for backend, _ in report.counts} == {"tf32_gpu", "tf32_gpu on cuda:0", "tf32_gpu[float32] on cuda:0"}
