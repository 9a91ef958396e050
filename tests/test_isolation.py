"""A backend that kills its process: check, explain and port report it as an error
row and go on; a declared crash runs apart by itself, every backend with --isolate,
and a check without one starts no process."""

import contextlib
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness import ConvSpec, check
from harness.cli import main
from helpers import SLOW
from known_failures import DECLARED_CRASHES

ROOT = Path(__file__).resolve().parents[1]
TWO_D = json.dumps(dict(layout="NCHW", in_channels=2, out_channels=2, spatial=[5, 4], kernel=[3, 2]))
ONE_D = json.dumps(dict(layout="NCW", in_channels=2, out_channels=2, spatial=5, kernel=3))


@pytest.fixture
def killers(monkeypatch):
    """Backends that die with SIGSEGV on 2-D specs, registered here and for child processes."""
    from harness.backends import EXTRA_ENV, REGISTRY, _extra_entries

    value = "kills=fake_backends:KillsItsProcess,declares_crash=fake_backends:DeclaresItsCrash"
    monkeypatch.setenv(EXTRA_ENV, value)
    for name, entry in _extra_entries(value).items():
        monkeypatch.setitem(REGISTRY, name, entry)


def rows(text: str) -> dict:
    """The table's rows by backend: status and call (the last column)."""
    found = {}
    for line in text.splitlines():
        words = line.split(maxsplit=4)
        if len(words) == 5 and words[1] in ("pass", "error", "mismatch", "unsupported"):
            found[words[0]] = (words[1], words[4])
    return found


def test_a_declared_crash_is_an_error_row_and_the_other_backends_still_print(killers, capsys):
    assert main(["check", TWO_D, "--backends", "numpy,declares_crash,numpy"]) == 1
    table = rows(capsys.readouterr().out)
    assert table["numpy"][0] == "pass"
    status, rest = table["declares_crash"]
    assert status == "error"
    # the call it was running, planned again here (a declared crash dies running, not importing)
    assert rest.startswith("y = convolve(spec, x, w, None")
    assert rest.endswith("[crashed: the process running declares_crash on this spec died (signal SIGSEGV)]")


def test_isolate_runs_every_backend_apart_so_an_undeclared_crash_is_an_error_row(killers, capsys):
    assert main(["check", TWO_D, "--backends", "numpy,kills", "--isolate"]) == 1
    table = rows(capsys.readouterr().out)
    assert table["numpy"][0] == "pass"
    # an undeclared crash may have been the import: nothing is imported here to show the call
    assert table["kills"] == ("error", "crashed: the process running kills on this spec died (signal SIGSEGV)")


def test_a_check_without_a_declared_crash_starts_no_child_process(killers, monkeypatch):
    checking = importlib.import_module("harness.check")  # the module; harness.check is the function
    asked = []
    monkeypatch.setattr(checking, "child_process", lambda needed: asked.append(needed) or contextlib.nullcontext())
    result = check(ConvSpec.from_json(ONE_D), backends=["numpy", "declares_crash"])  # no declared crash in 1-D
    assert [o.status for o in result.outcomes] == ["pass", "pass"]
    assert asked == [False]


def test_explain_reports_a_declared_crash_and_disagrees(killers, capsys):
    assert main(["explain", TWO_D, "--backends", "numpy,declares_crash"]) == 1
    text = capsys.readouterr().out
    assert "## declares_crash: error" in text
    assert "# crashed: the process running declares_crash on this spec died (signal SIGSEGV)" in text
    assert text.rstrip().endswith("DISAGREE: declares_crash error")


@pytest.mark.needs("torch")  # the model is a torch one
def test_port_reports_a_layer_whose_backend_crashes_and_checks_the_next(killers):
    import torch

    from harness.porting import check_model, scan

    model = torch.nn.Sequential(torch.nn.Conv1d(2, 2, 3), torch.nn.Unflatten(1, (2, 1)), torch.nn.Conv2d(2, 2, 1))
    results = check_model(scan(model, torch.ones(1, 2, 6)), ["numpy", "declares_crash"])
    statuses = [[(o.backend, o.status) for o in r.result.outcomes] for r in results]
    assert statuses == [[("torch model", "pass"), ("numpy", "pass"), ("declares_crash", "pass")],
                        [("torch model", "pass"), ("numpy", "pass"), ("declares_crash", "error")]]
    assert results[1].result["declares_crash"].message.startswith("crashed: ")


DECLARED = [(known, backend) for known in DECLARED_CRASHES for backend in known.backends]


@SLOW
@pytest.mark.parametrize("known,backend", DECLARED, ids=[f"{k.name}-{b}" for k, b in DECLARED])
def test_declared_crash_still_kills_its_process(known, backend):
    """Each declared crash's example still kills the process running it (in a child here)."""
    spec = ConvSpec(**known.example)
    assert known.applies(spec)
    outcome = check(spec, backends=[backend], isolate=True).outcomes[0]
    assert outcome.status == "error" and outcome.message.startswith("crashed: "), (
        f"{known.name} no longer kills {backend}'s process ({outcome.status} {outcome.message}): remove the entry")


@SLOW
@pytest.mark.needs("jax")
def test_check_of_the_xla_abort_example_prints_every_row_and_exits_1():
    from harness.frameworks.jax.adapter import CRASHES

    spec = ConvSpec(**CRASHES[0].example).to_json()
    run = subprocess.run([sys.executable, "-m", "harness.cli", "check", spec, "--backends", "numpy,jax"],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert run.returncode == 1, run.stderr[-2000:]
    table = rows(run.stdout)
    assert table["numpy"][0] == "pass"
    assert table["jax"][0] == "error" and "crashed: the process running jax on this spec died (signal SIGABRT)" \
        in table["jax"][1]
    assert "Check failed" not in run.stdout + run.stderr  # the framework's stack trace stays in the child


def test_a_sweep_with_declared_crashes_records_each_example_after_the_generated_cases(killers, tmp_path):
    from fake_backends import DeclaresItsCrash
    from harness.records import read_records

    records = tmp_path / "r.jsonl"
    assert main(["sweep", "--examples", "2", "--backends", "numpy,declares_crash", "--declared-crashes",
                 "--records", str(records), "--quiet"]) == 1
    rows = [r for r in read_records([records])[0] if r.case == 2]
    assert [(r.backend, r.status, r.message.split(" (")[0]) for r in rows] == [
        ("numpy", "pass", ""), ("declares_crash", "error", "crashed: the process running declares_crash on this spec died")]
    assert all(r.spec == ConvSpec(**DeclaresItsCrash.crashes[0].example).to_dict() for r in rows)


def test_checks_inside_a_kept_child_share_it_until_a_crash_and_none_outlives_its_block(killers, monkeypatch):
    checking = importlib.import_module("harness.check")  # the module; harness.check is the function
    two_d, one_d = ConvSpec.from_json(TWO_D), ConvSpec.from_json(ONE_D)
    with checking.kept_child(["numpy"]) as ready:
        ready()
        pool = checking._kept[-1]
        child = pool.schedule(os.getpid).result()
        assert check(two_d, backends=["numpy"], isolate=True).ok
        assert check(one_d, backends=["numpy", "kills"], isolate=True).ok  # it kills on 2-D specs only
        assert pool.schedule(os.getpid).result() == child  # one spawn for both checks
        assert check(two_d, backends=["kills"], isolate=True)["kills"].status == "error"
        assert check(two_d, backends=["numpy"], isolate=True).ok  # in the child that replaced the one that died
        assert pool.schedule(os.getpid).result() != child
    assert not checking._kept and not pool.active
    made, new_pool = [], checking._new_pool
    monkeypatch.setattr(checking, "_new_pool", lambda: made.append(new_pool()) or made[-1])
    assert check(two_d, backends=["numpy"], isolate=True).ok  # outside a sweep: a child of its own, stopped after
    assert len(made) == 1 and not made[0].active


def test_a_check_runs_in_a_new_child_where_the_kept_one_died_while_idle(killers):
    import signal

    checking = importlib.import_module("harness.check")
    with checking.kept_child(["numpy"]) as ready:
        ready()
        os.kill(checking._kept[-1].schedule(os.getpid).result(), signal.SIGKILL)
        assert check(ConvSpec.from_json(TWO_D), backends=["numpy"], isolate=True).ok


def test_a_sweep_keeps_one_child_for_its_span_where_a_declared_crash_covers_a_case(killers, monkeypatch):
    sweeping = importlib.import_module("harness.sweep")
    events, kept_child, start_check = [], sweeping.kept_child, sweeping.start_check

    @contextlib.contextmanager
    def kept(names):
        events.append(("child", list(names)))
        with kept_child(names) as ready:
            yield lambda: events.append("ready") or ready()
        events.append("stopped")

    monkeypatch.setattr(sweeping, "kept_child", kept)
    monkeypatch.setattr(sweeping, "start_check", lambda *case, **options: events.append("case") or start_check(*case, **options))
    one_d, two_d = ConvSpec.from_json(ONE_D), ConvSpec.from_json(TWO_D)
    summary = sweeping.run_sweep([(0, (one_d, 0))], backends=("numpy", "declares_crash"), progress=False)
    assert events == ["case"] and summary.counts == {"pass": 2}  # no case covered: no child
    events.clear()
    summary = sweeping.run_sweep([(0, (one_d, 0)), (1, (two_d, 0))], backends=("numpy", "declares_crash"),
                                 progress=False)
    assert events == [("child", ["declares_crash"]), "ready", "case", "case", "stopped"]
    assert summary.counts == {"pass": 3, "error": 1}
