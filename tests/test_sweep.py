"""The sweep: reproducible generated cases and shards, a record per case and backend,
the next cases' calls under way while one is judged, workers that die or start too
slowly, a script without the main guard, progress and Ctrl-C."""

import gc
import json
import subprocess
import sys
import threading

import pytest

from harness import ConvSpec
from harness.backends import get_backend
from harness.cli import main, parse_shard
from harness.records import read_records
import harness.records
import harness.sweep
from harness.sweep import generate_cases, select_shard
from helpers import FRAMEWORK_BACKENDS, IMPORTS_TENSORFLOW, NEEDS_A_FRAMEWORK, SLOW


def test_generated_cases_are_reproducible_and_shards_partition_them():
    cases = generate_cases(12, seed=5)
    assert len(cases) == 12 and cases == generate_cases(12, seed=5)
    assert cases != generate_cases(12, seed=6)
    shards = [select_shard(cases, (i, 3)) for i in (1, 2, 3)]
    numbers = sorted(n for shard in shards for n, _ in shard)
    assert numbers == list(range(12))
    assert parse_shard("2/3") == (2, 3)


@NEEDS_A_FRAMEWORK
def test_sweep_writes_a_record_per_case_and_backend(tmp_path, capsys):
    records = tmp_path / "records.jsonl"
    framework = FRAMEWORK_BACKENDS[0]
    status = main(["sweep", "--examples", "6", "--seed", "1", "--backends", f"numpy,{framework}",
                   "--records", str(records), "--quiet"])
    assert status == 0
    lines, skipped = read_records([records])
    assert skipped == 0 and len(lines) == 12
    first = lines[0]
    assert {"spec", "seed", "backend", "version", "status", "max_abs_error", "ratio", "message",
            "environment", "invocation", "call"} <= set(json.loads(records.read_text().splitlines()[0]))
    assert ConvSpec.from_dict(first.spec)  # the spec round-trips
    assert first.environment["versions"][get_backend(framework).module]
    assert "6 cases" in capsys.readouterr().out


@pytest.mark.parametrize("own_process", [True, False], ids=["a-backend-with-a-process-of-its-own", "none"])
def test_the_sweep_starts_the_next_cases_calls_before_it_judges_one_where_a_backend_computes_meanwhile(
        monkeypatch, tmp_path, own_process):
    events, start_check = [], harness.sweep.start_check

    def start(spec, *args, **options):
        events.append("start")
        finish = start_check(spec, *args, **options)
        return lambda: events.append("judge") or finish()

    monkeypatch.setattr(harness.sweep, "start_check", start)
    monkeypatch.setattr(get_backend("numpy"), "own_process", own_process)
    assert harness.sweep.AHEAD >= 1
    ahead = 2 if own_process else 0  # a window narrower than the sweep, to see it slide; none where nothing computes apart
    monkeypatch.setattr(harness.sweep, "AHEAD", 2)
    cases = list(enumerate(generate_cases(5, seed=3)))
    summary = harness.sweep.run_sweep(cases, backends=("numpy",), records=str(tmp_path / "r.jsonl"), progress=False)
    assert summary.cases == 5
    assert events == ["start"] * (ahead + 1) + ["judge", "start"] * (5 - ahead - 1) + ["judge"] * (ahead + 1)
    lines, _ = read_records([tmp_path / "r.jsonl"])
    assert [record.case for record in lines] == list(range(5))  # judged, and written, in the cases' order


def test_a_sweep_leaves_the_loaded_objects_out_of_the_collectors_passes_and_puts_them_back(monkeypatch):
    frozen, start_check = [], harness.sweep.start_check
    monkeypatch.setattr(harness.sweep, "start_check",
                        lambda *case, **options: frozen.append(gc.get_freeze_count()) or start_check(*case, **options))
    cases = list(enumerate(generate_cases(3, seed=3)))
    if not gc.get_freeze_count():
        harness.sweep.run_sweep(cases, backends=("numpy",), progress=False)
        assert len(frozen) == 3 and min(frozen) > 0 and gc.get_freeze_count() == 0
    gc.freeze()  # objects frozen by the process itself stay frozen: the sweep does not unfreeze them
    try:
        harness.sweep.run_sweep(cases, backends=("numpy",), progress=False)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_a_case_that_cannot_start_raises_in_its_turn_after_the_cases_before_it_are_written(monkeypatch, tmp_path):
    start_check, cases = harness.sweep.start_check, list(enumerate(generate_cases(5, seed=3)))
    bad = cases[3][1][0]

    def start(spec, *args, **options):
        if spec == bad:
            raise ValueError("inputs: a case that cannot start")
        return start_check(spec, *args, **options)

    monkeypatch.setattr(harness.sweep, "start_check", start)
    with pytest.raises(ValueError, match="cannot start"):
        harness.sweep.run_sweep(cases, backends=("numpy",), records=str(tmp_path / "r.jsonl"), progress=False)
    lines, _ = read_records([tmp_path / "r.jsonl"])
    assert [record.case for record in lines] == [0, 1, 2]


def test_an_interrupted_sweep_puts_the_frozen_objects_back(monkeypatch, tmp_path):
    write, written = harness.records.RecordWriter.write, []

    def interrupted(self, records):
        if written:
            raise KeyboardInterrupt
        written.append(True)
        write(self, records)

    monkeypatch.setattr(harness.records.RecordWriter, "write", interrupted)
    frozen = gc.get_freeze_count()
    summary = harness.sweep.run_sweep(list(enumerate(generate_cases(4, seed=3))), backends=("numpy",),
                                      records=str(tmp_path / "r.jsonl"), progress=False)
    assert summary.interrupted and summary.cases == 1
    assert (gc.get_freeze_count() == 0) if not frozen else gc.get_freeze_count() > 0


@SLOW
def test_sweep_with_two_jobs_records_the_same_outcomes(tmp_path):
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    for path, jobs in ((one, "1"), (two, "2")):
        assert main(["sweep", "--examples", "4", "--backends", "numpy", "--records", str(path),
                     "--jobs", jobs, "--quiet"]) == 0
    key = lambda r: (r.case, r.backend, r.status, r.max_abs_error)  # noqa: E731
    assert sorted(map(key, read_records([one])[0])) == sorted(map(key, read_records([two])[0]))


def test_sweep_exits_1_on_a_mismatch(fake_backends):
    assert main(["sweep", "--examples", "3", "--backends", "flipped", "--quiet"]) == 1


@SLOW
def test_a_backend_that_kills_its_process_is_an_error_and_the_sweep_goes_on(fake_backends, tmp_path, capsys):
    records = tmp_path / "r.jsonl"
    assert main(["sweep", "--examples", "10", "--backends", "numpy,kills", "--jobs", "2",
                 "--records", str(records), "--quiet"]) == 1
    rows = read_records([records])[0]
    assert sorted({r.case for r in rows}) == list(range(10))  # no case lost
    for row in rows:
        two_d = ConvSpec.from_dict(row.spec).rank == 2
        if row.backend == "kills" and two_d:
            assert row.status == "error" and "died (signal SIGSEGV)" in row.message
        else:
            assert row.status == "pass", row
    assert any(r.status == "error" for r in rows), "the generated cases should include a 2-D spec"


@SLOW
def test_a_worker_killed_mid_case_is_an_error_record_and_does_not_hang_the_sweep(fake_backends, tmp_path):
    records = tmp_path / "r.jsonl"
    argv = ["sweep", "--examples", "2", "--backends", "numpy,killed_mid_case", "--jobs", "2",
            "--records", str(records), "--quiet"]
    sweep = threading.Thread(target=main, args=(argv,), daemon=True)
    sweep.start()
    sweep.join(timeout=60)
    assert not sweep.is_alive(), "the sweep hung after a worker was killed"
    rows = read_records([records])[0]
    expected = {("numpy", "pass"), ("killed_mid_case", "error")}
    assert {(r.case, r.backend, r.status) for r in rows} == {
        (case, backend, status) for case in (0, 1) for backend, status in expected
    }
    assert all("died (signal SIGKILL)" in r.message for r in rows if r.status == "error")


@SLOW
def test_a_worker_that_dies_while_starting_ends_the_sweep_with_the_reason(fake_backends, capsys):
    assert main(["sweep", "--examples", "3", "--backends", "numpy,dies_loading", "--jobs", "2", "--quiet"]) == 1
    (line,) = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert line.startswith("convharness sweep: error: a sweep worker process exited while starting"), line


@SLOW
def test_workers_not_ready_in_time_end_the_sweep_and_let_it_shut_down(fake_backends, monkeypatch):
    import harness.sweep as sweep

    monkeypatch.setattr(sweep, "STARTUP_TIMEOUT", 0.5)
    cases = list(enumerate(generate_cases(3, 0)))
    with pytest.raises(sweep.WorkerStartError, match="did not load the frameworks within 0.5 s"):
        sweep.run_sweep(cases, backends=("numpy", "slow_loading"), jobs=2, progress=False)


UNGUARDED_SCRIPT = """
from harness.sweep import generate_cases, run_sweep
def sweep():
    return run_sweep(list(enumerate(generate_cases(2, 0))), backends=("numpy",), jobs=2, progress=False)
{call}
"""


@SLOW
@pytest.mark.parametrize("guarded", [False, True])
def test_a_script_without_the_main_guard_is_told_so_instead_of_waiting(tmp_path, guarded):
    call = 'if __name__ == "__main__":\n    print(sweep().cases)' if guarded else "print(sweep().cases)"
    script = tmp_path / "my_sweep.py"
    script.write_text(UNGUARDED_SCRIPT.format(call=call))
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    if guarded:
        assert (run.returncode, run.stdout.split()) == (0, ["2"]), run.stderr[-2000:]
    else:
        assert run.returncode == 1
        # multiprocessing's resource tracker may warn after the traceback about
        # the semaphores of the children that died re-running the script
        assert any(line.startswith("harness.sweep.WorkerStartError: ") for line in run.stderr.splitlines())
        assert 'under `if __name__ == "__main__":`' in run.stderr


@SLOW
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ctrl_c_in_a_sweep_prints_the_summary_of_what_finished_and_exits_130(jobs, tmp_path):
    import os
    import signal

    records = tmp_path / "r.jsonl"
    env = {**os.environ, "CONVHARNESS_BACKENDS": "slow_case=fake_backends:SlowCase",
           "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    run = subprocess.Popen([sys.executable, "-m", "harness.cli", "sweep", "--examples", "400", "--backends",
                            "slow_case", "--jobs", jobs, "--records", str(records)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                           # a shell runs a background job with SIGINT ignored, and children inherit that
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    for line in run.stderr:  # progress lines, a tenth of the cases each, once the cases run
        if "cases/s" in line:
            break
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=120)
    assert run.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    done = int(out.split()[0])
    assert 40 <= done < 400 and out.rstrip().endswith("[interrupted]"), out
    assert f"interrupted: {done} of 400 cases finished; their records are in {records}" in err
    assert len(read_records([records])[0]) == done  # every finished case kept, one backend each


def test_the_progress_bar_shows_the_summary_rate():
    import io

    from harness.sweep import Progress, Summary

    stream = io.StringIO()
    Progress(10, stream).update(Summary(cases=10, seconds=4.0))
    assert Summary(cases=10, seconds=4.0).line().startswith("10 cases in 4.0 s (2.5 cases/s)")
    assert "10/10 2.5 cases/s" in stream.getvalue()


@SLOW
def test_ctrl_c_while_the_cases_are_drawn_ends_as_cleanly_as_while_they_run(tmp_path):
    import os
    import signal
    import time

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    run = subprocess.Popen([sys.executable, "-m", "harness.cli", "sweep", "--examples", "2000", "--backends", "numpy",
                            "--records", str(tmp_path / "r.jsonl")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    first = run.stderr.readline()
    assert first.startswith("sweep: drawing 2000 cases"), first
    time.sleep(0.5)  # inside Hypothesis' drawing, which takes seconds for 2000 cases
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=120)
    assert run.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert out.rstrip().endswith("nothing run  [interrupted]"), out
    assert err.splitlines()[-1].startswith("convharness sweep: interrupted: 0 of 2000 cases finished"), err


def test_sweep_cases_are_distinct_where_hypothesis_draws_one_twice(tmp_path, capsys):
    from harness.sweep import _draw

    drawn = _draw(100, 0, {}, lambda: None)
    assert len(set(drawn)) < 100  # seed 0 draws a case twice (cases 0 and 7 when this was written)
    cases = generate_cases(100, seed=0)
    assert len(cases) == len(set(cases)) == 100
    assert cases[:len(set(drawn))] == list(dict.fromkeys(drawn))  # the first draw's cases kept, in order
    records = tmp_path / "r.jsonl"
    assert main(["sweep", "--examples", "100", "--seed", "0", "--backends", "numpy", "--records", str(records),
                 "--quiet"]) == 0
    assert capsys.readouterr().out.startswith("100 cases in ")
    rows = read_records([records])[0]
    assert len(rows) == len({(json.dumps(r.spec, sort_keys=True), r.seed) for r in rows}) == 100


@NEEDS_A_FRAMEWORK
@IMPORTS_TENSORFLOW  # every installed backend, TensorFlow among them, in this process
def test_an_exact_sweep_passes_and_marks_its_records_exact(tmp_path, capsys):
    records = tmp_path / "r.jsonl"
    assert main(["sweep", "--examples", "8", "--exact", "--records", str(records), "--quiet"]) == 0
    assert '"exact": true' in records.read_text()
