"""The harness changes nothing in the user's process beyond its own calls, and
its command line is quick to answer where it runs nothing: --help, --version
and usage errors import no numeric library; a malformed CONVHARNESS_BACKENDS is
reported where a backend is resolved, not by ``import harness``."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from helpers import SLOW

NUMERIC = ("numpy", "ml_dtypes", "hypothesis", "torch", "tensorflow", "jax", "keras", "flax")
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}


def _child(code: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env=env or ENV)


@pytest.mark.parametrize("argv", [
    ["--help"], ["--version"], ["check", "--help"], ["sweep", "--examples", "0"], ["sweep", "--shard", "3/2"],
    ["check", "no_such_file.json"], ["check", "{}", "--backends", "no_such_backend"], ["frobnicate"],
    ["port", "m:f", "--input-shape", "1,8,x"],
], ids=lambda argv: " ".join(argv))
def test_help_version_and_usage_errors_import_no_numeric_library(argv):
    run = _child(f"import sys\nfrom harness.cli import main\ntry:\n    code = main({argv!r})\n"
                 "except SystemExit as exc:\n    code = exc.code\n"
                 f"print(code, sorted(m for m in {NUMERIC!r} if m in sys.modules))")
    code, imported = run.stdout.strip().splitlines()[-1].split(" ", 1)
    assert code in ("0", "2") and imported == "[]", (run.stdout, run.stderr)


def test_a_malformed_backends_variable_leaves_import_harness_working_and_is_one_usage_line():
    env = {**ENV, "CONVHARNESS_BACKENDS": "mine:Module"}
    run = _child("import harness, harness.backends, harness.cli; print('imported')", env)
    assert run.returncode == 0 and run.stdout.strip() == "imported", run.stderr
    run = subprocess.run([sys.executable, "-m", "harness.cli", "check", "{}", "--backends", "numpy"],
                         capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 2 and len(run.stderr.splitlines()) == 1, run.stderr
    assert run.stderr.startswith("convharness check: error: CONVHARNESS_BACKENDS='mine:Module': entries are "
                                 "name=module:Class"), run.stderr


def test_a_malformed_backends_variable_is_raised_where_a_backend_is_resolved(monkeypatch):
    from harness.backends import get_backend, resolve_backends

    monkeypatch.setenv("CONVHARNESS_BACKENDS", "mine")
    get_backend.cache_clear()
    try:
        for resolve in (lambda: resolve_backends(["numpy"]), lambda: resolve_backends(None),
                        lambda: get_backend("numpy")):
            with pytest.raises(ValueError, match="^CONVHARNESS_BACKENDS='mine': entries are name=module:Class"):
                resolve()
    finally:
        get_backend.cache_clear()


@SLOW
@pytest.mark.needs("tensorflow")
@pytest.mark.parametrize("user", [None, "2"], ids=["unset", "set"])
def test_running_tensorflow_leaves_the_users_tf_log_level_as_it_was(user):
    env = {k: v for k, v in ENV.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    if user is not None:
        env["TF_CPP_MIN_LOG_LEVEL"] = user
    run = _child("import os\nfrom harness import ConvSpec, check\n"
                 "spec = ConvSpec(layout='NHWC', in_channels=2, out_channels=3, spatial=5, kernel=3)\n"
                 "assert check(spec, backends=['tensorflow']).ok\n"
                 "import tensorflow\n"  # imported by the harness: what the user's code sees from now on
                 "print(repr(os.environ.get('TF_CPP_MIN_LOG_LEVEL')))", env)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip().splitlines()[-1] == repr(user)
