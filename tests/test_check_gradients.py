"""check and sweep with --grad: a row per backend for y, dx, dw and db, each judged against
the float64 reference_vjp at the seed's cotangent, refusals named, records saying which."""

import json

import numpy as np
import pytest

from harness import ConvSpec, check, make_inputs
from harness.backends import REGISTRY, Entry
from harness.cli import main
from harness.gradients import reference_vjp
from harness.inputs import inputs_code, make_cotangent
from harness.records import read_records
from harness.status import Status
from harness.sweep import generate_cases, run_sweep, select_shard

SPEC = ConvSpec(layout="NHWC", batch=2, in_channels=4, out_channels=6, spatial=(7, 6), kernel=(3, 2), stride=2,
                groups=2, padding="same", bias=True)
needs_torch = pytest.mark.needs("torch")


def test_the_cotangent_follows_the_inputs_in_the_seeds_generator_and_leaves_them_unchanged():
    rng = np.random.default_rng(5)
    draws = [rng.uniform(-1.0, 1.0, size=shape) for shape in (SPEC.input_shape, SPEC.weight_shape, SPEC.bias_shape)]
    dy = rng.uniform(-1.0, 1.0, size=SPEC.output_shape).astype(np.float32)
    np.testing.assert_array_equal(make_cotangent(SPEC, 5), dy)
    np.testing.assert_array_equal(make_inputs(SPEC, 5)[0], draws[0].astype(np.float32))
    namespace = {"np": np}
    exec("\n".join(inputs_code(SPEC, 5, cotangent=True)), namespace)
    np.testing.assert_array_equal(namespace["dy"], dy)


@needs_torch
def test_check_with_grad_gives_a_row_for_the_output_and_each_gradient_per_backend():
    result = check(SPEC, seed=1, backends=["torch", "numpy"], grad=True)
    assert [(o.backend, o.quantity) for o in result.outcomes] == [
        ("torch", "y"), ("torch", "dx"), ("torch", "dw"), ("torch", "db"),
        ("numpy", "y"), ("numpy", "dx"), ("numpy", "dw"), ("numpy", "db")]
    for quantity in ("y", "dx", "dw", "db"):
        outcome = result["torch", quantity]
        assert outcome.status == Status.PASS and 0 <= outcome.ratio <= 1, outcome
    assert "torch.autograd.grad" in result["torch", "dw"].native
    # numpy has no autodiff: declared, so each gradient is an unsupported row with the reason
    for quantity in ("dx", "dw", "db"):
        refused = result["numpy", quantity]
        assert refused.status == Status.UNSUPPORTED and "no automatic differentiation" in refused.message
    assert result.ok


@needs_torch
def test_check_without_a_bias_gives_no_bias_gradient_row():
    spec = ConvSpec(layout="NCW", in_channels=2, out_channels=3, spatial=9, kernel=3, dilation=2)
    result = check(spec, backends=["torch"], grad=True)
    assert [o.quantity for o in result.outcomes] == ["y", "dx", "dw"]


@needs_torch
def test_a_flipped_weight_gradient_is_a_dw_mismatch_while_y_dx_and_db_pass(monkeypatch):
    monkeypatch.setitem(REGISTRY, "flipped_weight_gradient", Entry("fake_backends:FlippedWeightGradient", "torch"))
    result = check(SPEC, backends=["flipped_weight_gradient"], grad=True)
    statuses = {o.quantity: o.status for o in result.outcomes}
    assert statuses == {"y": Status.PASS, "dx": Status.PASS, "dw": Status.MISMATCH, "db": Status.PASS}
    failed = result["flipped_weight_gradient", "dw"]
    assert failed.ratio > 1 and failed.errors.shape == SPEC.weight_shape
    x, w, b = make_inputs(SPEC, 0)
    np.testing.assert_array_equal(failed.expected, reference_vjp(SPEC, x, w, b, make_cotangent(SPEC, 0)).dw)
    assert not result.ok


@needs_torch
def test_check_command_with_grad_writes_a_record_per_quantity_and_exits_1_on_a_gradient_mismatch(
        tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(REGISTRY, "flipped_weight_gradient", Entry("fake_backends:FlippedWeightGradient", "torch"))
    path = tmp_path / "r.jsonl"
    code = main(["check", SPEC.to_json(), "--grad", "--backends", "torch,flipped_weight_gradient",
                 "--records", str(path)])
    assert code == 1
    printed = capsys.readouterr().out
    assert "  dw  mismatch" in printed.replace("flipped_weight_gradient", "")
    records, skipped = read_records([path])
    assert skipped == 0
    assert [(r.backend, r.quantity, r.status) for r in records][-2:] == [
        ("flipped_weight_gradient", "dw", Status.MISMATCH), ("flipped_weight_gradient", "db", Status.PASS)]
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert "quantity" not in lines[0] and lines[1]["quantity"] == "dx"  # left out for the output y
    assert records[-2].error_map["shape"] == list(SPEC.weight_shape)


def test_grad_with_exact_is_refused_on_one_line(capsys):
    assert main(["check", SPEC.to_json(), "--grad", "--exact", "--backends", "numpy"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "grad:" in err and "--exact" in err


@needs_torch
def test_sweep_with_grad_records_each_gradient_of_each_case(tmp_path):
    cases = select_shard(generate_cases(3, seed=4), (1, 1))
    path = tmp_path / "s.jsonl"
    summary = run_sweep(cases, backends=("torch",), records=str(path), progress=False, grad=True)
    records, _ = read_records([path])
    for number, (spec, _) in cases:
        expected = ["y", "dx", "dw"] + (["db"] if spec.bias else [])
        assert [r.quantity for r in records if r.case == number] == expected
    assert summary.cases == 3 and sum(summary.counts.values()) == len(records)


@needs_torch
def test_a_gradient_mismatch_reproduces_from_its_record_with_the_error_check_measured(tmp_path, monkeypatch):
    import subprocess
    import sys

    from harness.reproducer import RESULT_MARK, record_reproducer

    monkeypatch.setitem(REGISTRY, "flipped_weight_gradient", Entry("fake_backends:FlippedWeightGradient", "torch"))
    path = tmp_path / "r.jsonl"
    main(["check", SPEC.to_json(), "--seed", "3", "--grad", "--backends", "flipped_weight_gradient",
          "--records", str(path)])
    record = next(r for r in read_records([path])[0] if r.quantity == "dw")
    script, _ = record_reproducer(record, None, tmp_path)
    assert "torch.autograd.grad" in script and "dy = rng.uniform" in script
    (tmp_path / "repro.py").write_text(script)
    out = subprocess.run([sys.executable, "repro.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    line = next(line for line in out.stdout.splitlines() if line.startswith(RESULT_MARK))
    assert float(line[len(RESULT_MARK):]) == record.max_abs_error
    assert f"worst index: {tuple(record.worst_index)}" in out.stdout


@needs_torch
def test_the_report_counts_gradients_in_their_own_rows_and_maps_a_weight_gradient_over_its_taps(
        tmp_path, monkeypatch):
    from harness.report.loading import load
    from harness.report.sweep_page import checked, counts, details

    monkeypatch.setitem(REGISTRY, "flipped_weight_gradient", Entry("fake_backends:FlippedWeightGradient", "torch"))
    path = tmp_path / "r.jsonl"
    main(["check", SPEC.to_json(), "--grad", "--backends", "flipped_weight_gradient,numpy", "--records", str(path)])
    entries = checked(load([path]).records)
    tally = dict(counts(entries))
    assert tally["flipped_weight_gradient dw"] == (0, 1, 0, 0, 0) and tally["flipped_weight_gradient"][0] == 1
    assert tally["numpy dx"][3] == 1  # the declared refusal, in its own row
    failures, refusals, _ = details(entries, {}, tmp_path)
    [failure] = failures
    assert failure.title.endswith("(gradient dw): mismatch") and failure.map_over.startswith("kernel tap")
    out, inside, *taps = SPEC.weight_shape
    assert len(failure.heat_map.slices) == min(6, out * inside)
    assert all(len(s.rows) == taps[0] and len(s.rows[0]) == taps[1] for s in failure.heat_map.slices)
    assert failure.heat_map.slices[0].label.startswith("o=") and " i=" in failure.heat_map.slices[0].label
    assert {d.backend for d in refusals} == {"numpy dx", "numpy dw", "numpy db"}


@needs_torch
def test_check_with_grad_in_a_child_process_gives_the_same_rows():
    here = check(SPEC, seed=1, backends=["torch"], grad=True)
    apart = check(SPEC, seed=1, backends=["torch"], grad=True, isolate=True)
    assert [(o.quantity, o.status, o.ratio) for o in apart.outcomes] == [
        (o.quantity, o.status, o.ratio) for o in here.outcomes]
