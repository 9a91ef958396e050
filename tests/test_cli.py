"""The command line: tables, records, shards, exit statuses and one-line errors."""

import os
import json
import subprocess
import sys
import threading

import pytest

from harness import ConvSpec, check
from harness.backends import get_backend
from harness.cli import main, parse_shard
from harness.records import Record, read_records
from harness.sweep import generate_cases, select_shard
from helpers import FRAMEWORK_BACKENDS, NEEDS_A_FRAMEWORK, SLOW

SPEC = ConvSpec(layout="NWC", in_channels=2, out_channels=4, spatial=9, kernel=2, stride=2,
                padding="same", groups=2, bias=True)


def test_check_prints_a_row_per_backend_and_exits_0(capsys):
    backends = ["numpy", *FRAMEWORK_BACKENDS[:1]]  # whichever framework is installed, if any
    assert main(["check", SPEC.to_json(), "--backends", ",".join(backends)]) == 0
    out = capsys.readouterr().out
    assert "conv1d NWC float32" in out
    assert [line.split()[0] for line in out.splitlines()[2:]] == backends


def test_check_reads_a_file_and_applies_overrides(tmp_path, capsys):
    path = tmp_path / "spec.json"
    path.write_text(SPEC.to_json())
    assert main(["check", str(path), "dtype=float64", "stride=1", "--backends", "numpy"]) == 0
    assert "float64" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv,field",
    [
        (["check", '{"layout": "NCW"'], "spec"),
        (["check", '{"layout": "NXW", "in_channels": 1, "out_channels": 1, "spatial": 3, "kernel": 1}'], "layout"),
        (["check", SPEC.to_json(), "groups=3"], "groups"),
        (["check", SPEC.to_json(), "kernel=20", "padding=valid"], "kernel"),
        (["check", SPEC.to_json(), "stride=0"], "stride"),
        (["check", SPEC.to_json(), "padding=causal", "layout=NHWC"], "spatial"),
        (["check", '{"layout": "NCW", "in_channels": 1}'], "out_channels"),
        (["check", SPEC.to_json(), "stride"], "stride"),
        (["sweep", "--shard", "3/2"], "shard"),
        (["sweep", "--examples", "0"], "examples"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, field, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert f"error: {field}" in err


def test_command_line_entry_point_gives_no_traceback():
    out = subprocess.run([sys.executable, "-m", "harness.cli", "check", "not json"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "Traceback" not in out.stderr and "error: spec" in out.stderr


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

@SLOW
def test_sweep_with_two_jobs_records_the_same_outcomes(tmp_path):
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    for path, jobs in ((one, "1"), (two, "2")):
        assert main(["sweep", "--examples", "4", "--backends", "numpy", "--records", str(path),
                     "--jobs", jobs, "--quiet"]) == 0
    key = lambda r: (r.case, r.backend, r.status, r.max_abs_error)  # noqa: E731
    assert sorted(map(key, read_records([one])[0])) == sorted(map(key, read_records([two])[0]))


@pytest.fixture
def fake_backends(monkeypatch):
    """Wrong backends registered for this process and for sweep workers (which inherit the variable)."""
    from harness.backends import EXTRA_ENV, REGISTRY, _extra_entries

    value = ("flipped=fake_backends:FlippedKernel,kills=fake_backends:KillsItsProcess,"
             "dies_loading=fake_backends:DiesWhileLoading,slow_loading=fake_backends:SlowToLoad,"
             "killed_mid_case=fake_backends:KilledMidCase")
    monkeypatch.setenv(EXTRA_ENV, value)
    for name, entry in _extra_entries(value).items():
        monkeypatch.setitem(REGISTRY, name, entry)


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


def test_extra_backends_variable_must_be_well_formed():
    from harness.backends import _extra_entries

    with pytest.raises(ValueError, match="^CONVHARNESS_BACKENDS="):
        _extra_entries("flipped:FlippedKernel")


def test_a_truncated_last_line_is_skipped_and_counted(tmp_path):
    path = tmp_path / "r.jsonl"
    record = {"case": 0, "spec": {}, "seed": 0, "backend": "torch", "status": "pass"}
    path.write_text(json.dumps(record) + "\n" + json.dumps([1, 2]) + "\n" + json.dumps({**record, "status": "ok"})
                    + "\n" + '{"status": "pa')
    records, skipped = read_records([path])
    assert [r.to_dict() for r in records] == [Record(**record).to_dict()]
    assert skipped == 3  # a line that is no record, one with no known status, and a truncated line


@pytest.mark.parametrize("command", [["check", SPEC.to_json()], ["sweep"], ["explain", SPEC.to_json()],
                                     ["examples"], ["port", "no_such_module:model"]])
def test_an_unknown_backend_is_a_usage_error_on_every_command(command, capsys):
    assert main([*command, "--backends", "numpy,tensorflw"]) == 2
    captured = capsys.readouterr()
    (line,) = captured.err.strip().splitlines()
    assert "backends='tensorflw': unknown backend; known: numpy, torch, torch.nn, tensorflow, jax" in line
    assert captured.out == ""  # nothing ran


def test_a_backend_whose_framework_is_missing_says_how_to_install_it(monkeypatch, capsys):
    from harness.backends import REGISTRY, Entry

    monkeypatch.setitem(REGISTRY, "absent", Entry("absent_framework:Backend", "absent_framework", "jax"))
    assert main(["check", SPEC.to_json(), "--backends", "absent"]) == 2
    assert ("backends='absent': needs absent_framework, which is not installed: "
            "pip install 'convharness[jax]' -c constraints.txt") in capsys.readouterr().err


def test_a_spec_file_that_does_not_exist_is_named(tmp_path, capsys):
    assert main(["check", str(tmp_path / "nonexistent.json")]) == 2
    assert "error: spec: no such file" in capsys.readouterr().err


def test_diagnose_names_a_file_that_is_no_npz_and_never_suggests_pickles(tmp_path, capsys):
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(SPEC.to_json())
    assert main(["diagnose", str(spec_file), "--inputs", str(spec_file), "--observed", str(spec_file)]) == 2
    err = capsys.readouterr().err
    assert f"error: inputs: {spec_file} is not an .npz of arrays x and w" in err and "pickle" not in err


def test_a_report_of_files_without_one_record_is_an_error(tmp_path, capsys):
    spec_file, page = tmp_path / "spec.json", tmp_path / "r.html"
    spec_file.write_text(SPEC.to_json())
    assert main(["report", str(spec_file), "-o", str(page)]) == 2
    assert "error: records: not one record in" in capsys.readouterr().err and not page.exists()


def test_version_prints_the_installed_version():
    from importlib.metadata import version

    run = subprocess.run([sys.executable, "-m", "harness.cli", "--version"], capture_output=True, text=True)
    assert (run.returncode, run.stdout.strip()) == (0, f"convharness {version('convharness')}")


def test_output_cut_short_by_a_closed_pipe_ends_quietly():
    import os

    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line, as `| head -1` is after its line
    try:
        run = subprocess.run([sys.executable, "-m", "harness.cli", "examples", "--backends", "numpy"],
                             stdout=write, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write)
    assert run.returncode == 1 and "Traceback" not in run.stderr and "BrokenPipeError" not in run.stderr, run.stderr


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


def test_a_failing_identity_names_the_broken_side_and_its_line_reproduces_it(fake_backends, monkeypatch, capsys):
    import shlex

    from harness.backends import REGISTRY, _extra_entries
    from harness.check import reproduce_command
    from harness.identities import BY_NAME, check_identity
    from harness.inputs import make_inputs

    for name, entry in _extra_entries("wrong_channels_last=fake_backends:WrongChannelsLast").items():
        monkeypatch.setitem(REGISTRY, name, entry)
    name = "channels_first_equals_transposed_channels_last"
    spec = ConvSpec(layout="NCHW", in_channels=2, out_channels=2, spatial=(5, 4), kernel=(3, 2))
    outcome = check_identity(BY_NAME[name], "wrong_channels_last", spec, *make_inputs(spec, 7))
    assert outcome.status == "mismatch" and outcome.broken == ("rewrite",), outcome
    line = reproduce_command(spec, 7, backends=["wrong_channels_last"], identity=name)
    argv = shlex.split(line.split("->")[1])
    assert argv[:2] == ["convharness", "check"]
    assert main(argv[1:]) == 1
    out = capsys.readouterr().out
    assert f"identity {name}, seed 7" in out
    assert "wrong_channels_last  mismatch" in out and "rewrite side" in out
    assert main([*argv[1:5], "--backends", "numpy", "--identity", name]) == 0  # the right backend passes


def test_your_own_backend_registers_through_a_function(monkeypatch):
    from harness.backends import REGISTRY, get_backend, register

    saved = dict(REGISTRY)
    try:
        register("my_port", "fake_backends:FlippedKernel")
        assert REGISTRY["my_port"].requires == "fake_backends"
        assert check(SPEC, backends=["my_port"]).outcomes[0].status == "mismatch"
        with pytest.raises(ValueError, match="entries are name=module:Class"):
            register("bad", "fake_backends.FlippedKernel")
    finally:
        REGISTRY.clear()
        REGISTRY.update(saved)
        get_backend.cache_clear()


def test_an_error_from_inside_a_command_is_not_reported_as_bad_input(monkeypatch):

    def deep(*args, **kwargs):
        raise ValueError("raised while running, not bad input")

    monkeypatch.setattr(sys.modules["harness.check"], "check", deep)  # what cmd_check imports when it runs
    with pytest.raises(ValueError, match="raised while running"):
        main(["check", SPEC.to_json(), "--backends", "numpy"])


@pytest.mark.needs("tensorflow")
def test_tensorflow_loads_quietly_unless_its_log_level_is_set():
    import os

    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    run = subprocess.run([sys.executable, "-m", "harness.cli", "check", SPEC.to_json(), "--backends", "tensorflow"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0 and run.stderr == "", run.stderr


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


@pytest.mark.parametrize("shape", ["1,8,x", "1,8,", "1,0,8", "1,-8", "8.5", ""])
def test_an_input_shape_part_that_is_not_a_positive_integer_is_a_usage_error(shape, capsys):
    assert main(["port", "no_such_module:build", "--input-shape", shape]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"input-shape={shape!r}: every part must be a positive integer" in err


def test_input_shapes_are_read_with_commas_or_x():
    from harness.cli import _shape

    assert _shape("1,3,224,224") == _shape("1x3x224x224") == _shape("1, 3, 224, 224") == (1, 3, 224, 224)


@SLOW
def test_check_of_a_dilated_conv3d_passes_in_tensorflow_on_its_eigen_kernels():
    """Where TensorFlow runs its Eigen CPU kernels (oneDNN off, as by default on CPUs without AVX-512 VNNI, such as AVX2-only EPYCs), its
    Conv3D refuses dilation, and tf.nn.convolution computes the same conv: the call says which."""
    spec = ConvSpec(layout="NDHWC", in_channels=2, out_channels=3, spatial=(5, 6, 4), kernel=2, dilation=2,
                    padding="same", bias=True)
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "0"}
    run = subprocess.run([sys.executable, "-m", "harness.cli", "check", spec.to_json(), "--backends",
                          "numpy,tensorflow"], capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    (row,) = [line for line in run.stdout.splitlines() if line.strip().startswith("tensorflow")]
    assert row.split()[1] == "pass" and "tf.nn.convolution(" in row, row
