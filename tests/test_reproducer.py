"""Reproducers never lie: each is rendered from the call that ran, prints the
error check measured for a pass or a mismatch, `refused: ...` (exit 0) only for
a refusal its adapter declares, and lets any other error propagate (exit 1)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness import ConvSpec, check, make_inputs
from harness.backends import REGISTRY, _extra_entries, get_backend
from harness.calls import Rendered
from harness.reference import reference
from harness.reproducer import REFUSED_MARK, RESULT_MARK, reproducer
from helpers import FRAMEWORK_BACKENDS, IMPORTS_TENSORFLOW, SLOW, installed

pytestmark = [IMPORTS_TENSORFLOW, SLOW]  # each test runs a script in a new process

SPEC = ConvSpec(layout="NHWC", in_channels=4, out_channels=6, spatial=(5, 6), kernel=(2, 3), stride=(2, 1),
                padding="same", groups=2, bias=True)
TESTS = str(Path(__file__).parent)


@pytest.fixture
def fakes(monkeypatch):
    for name, entry in _extra_entries("flipped=fake_backends:FlippedKernel,crashing=fake_backends:Crashing").items():
        monkeypatch.setitem(REGISTRY, name, entry)


def _run(spec: ConvSpec, backend: str, seed: int = 5):
    outcome = check(spec, seed=seed, backends=[backend]).outcomes[0]
    script = reproducer(spec, backend, outcome.invocation, seed=seed, status=outcome.status,
                        expected=reference(spec, *make_inputs(spec, seed)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([TESTS, *sys.path])}
    return outcome, subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                                   env=env)


def _printed_error(out) -> float:
    line = next(line for line in out.stdout.splitlines() if line.startswith(RESULT_MARK))
    return float(line[len(RESULT_MARK):])


# a transposed conv with an asymmetric crop and output_padding: PyTorch narrows, TensorFlow slices, JAX flips
TRANSPOSED = ConvSpec(layout="NCHW", in_channels=2, out_channels=3, spatial=(4, 3), kernel=3, stride=2,
                      padding=((2, 1), (0, 1)), output_padding=1, transposed=True, bias=True)


@pytest.mark.parametrize("spec", [SPEC, TRANSPOSED], ids=["forward", "transposed"])
@pytest.mark.parametrize("backend", ["numpy", *FRAMEWORK_BACKENDS])
def test_a_pass_reproduces_the_error_check_measured(backend, spec):
    outcome, out = _run(spec, backend)
    assert outcome.status == "pass" and out.returncode == 0, out.stderr[-2000:]
    assert _printed_error(out) == outcome.max_abs_error


@pytest.mark.parametrize("backend", installed("jax", "flax"))
def test_a_float64_jax_reproducer_switches_x64_on_and_prints_the_error_check_measured(backend):
    outcome, out = _run(SPEC.replace(dtype="float64"), backend)  # without x64 JAX would compute in float32
    assert outcome.status == "pass" and out.returncode == 0, out.stderr[-2000:]
    assert _printed_error(out) == outcome.max_abs_error


def test_a_mismatch_reproduces_its_error(fakes):
    outcome, out = _run(SPEC, "flipped")
    assert outcome.status == "mismatch" and out.returncode == 0, out.stderr[-2000:]
    assert _printed_error(out) == outcome.max_abs_error and "np.flip(w" in outcome.call


@pytest.mark.needs("tensorflow")
def test_a_declared_refusal_prints_refused_and_exits_0():
    refusal = next(r for r in get_backend("tensorflow").refusals if r.name == "conv3d_groups")
    outcome, out = _run(ConvSpec(**refusal.example), "tensorflow")
    if outcome.status == "pass":
        pytest.skip("this TensorFlow runs grouped Conv3D")
    assert outcome.status == "unsupported" and out.returncode == 0, out.stderr[-2000:]
    (line,) = [line for line in out.stdout.splitlines() if line.startswith(REFUSED_MARK)]
    assert get_backend("tensorflow").message(Exception(line[len(REFUSED_MARK):])) in outcome.message
    assert RESULT_MARK not in out.stdout


def test_an_undeclared_error_propagates_with_its_traceback(fakes):
    outcome, out = _run(SPEC, "crashing")
    assert outcome.status == "error" and outcome.message == "RuntimeError: segfault avoided"
    assert out.returncode == 1 and REFUSED_MARK not in out.stdout
    assert "RuntimeError: segfault avoided" in out.stderr and "Traceback" in out.stderr


@pytest.mark.parametrize("refusals", [(), ("not implemented for",)])
def test_a_call_without_a_recorded_line_still_gives_a_script_that_compiles(refusals):
    script = reproducer(SPEC, "handmade", Rendered(refusals=refusals), seed=0)
    compile(script, "reproducer.py", "exec")


@pytest.mark.needs("tensorflow")
def test_a_call_that_runs_inside_a_device_scope_reproduces_inside_it(monkeypatch):
    """Where TensorFlow sees a GPU its call runs inside ``tf.device``; the script runs it
    there too. (A stand-in GPU list; TensorFlow's own device is the CPU's, named.)"""
    from harness.frameworks.tensorflow import adapter as tf_backend

    monkeypatch.setattr(tf_backend, "_gpus", lambda: ("a GPU",))
    outcome, out = _run(SPEC, "tensorflow")
    assert outcome.status == "pass" and out.returncode == 0, out.stderr[-2000:]
    script = reproducer(SPEC, "tensorflow", outcome.invocation, seed=5)
    assert "\nwith tf.device('/CPU:0'):\n    x = tf.constant(x)\n" in script
    assert _printed_error(out) == outcome.max_abs_error
