"""The command line: tables, exit statuses, one-line errors and each command's options
(the sweep's own tests are in test_sweep.py, the records' in test_records.py)."""

import os
import subprocess
import sys

import pytest

from harness import ConvSpec, check
from harness.cli import main
from helpers import FRAMEWORK_BACKENDS, SLOW

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


def test_a_malformed_backends_variable_is_an_error_naming_it():
    from harness.backends import _extra_entries

    with pytest.raises(ValueError, match="^CONVHARNESS_BACKENDS="):
        _extra_entries("flipped:FlippedKernel")


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
