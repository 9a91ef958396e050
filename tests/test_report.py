"""Reports: built from a real sweep's records, parsed with an HTML parser, escaped,
tolerant of truncated records; reproducers print the numbers the harness recorded."""

from __future__ import annotations

import dataclasses
import html
import html.parser
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness import ConvSpec, make_inputs
from harness.reference import reference
from harness.cli import main
from harness.records import read_records
from harness.report import build_report
from harness.report.heatmap import heat_map
from harness.reproducer import REFUSED_MARK, RESULT_MARK, reproducer
from harness.tolerance import where_errors_sit
from helpers import FRAMEWORK_BACKENDS, SLOW

needs_tensorflow = pytest.mark.needs("tensorflow")

# tf.nn.conv3d 'SAME' with stride larger than kernel and input: the Eigen
# Conv3D kernel (forced with TF_ENABLE_ONEDNN_OPTS=0) shifts the windows.
TF_CONV3D_BUG = ConvSpec(layout="NDHWC", in_channels=2, out_channels=3, spatial=(3, 7, 4), kernel=(1, 1, 2),
                         stride=(3, 3, 1), padding="same", bias=True)
TF_CONV3D_GROUPS = ConvSpec(layout="NDHWC", in_channels=2, out_channels=2, spatial=3, kernel=1, groups=2)
EIGEN = {"TF_ENABLE_ONEDNN_OPTS": "0"}


class Page(html.parser.HTMLParser):
    """The parts of a report page the tests look at."""

    def __init__(self, text: str):
        super().__init__()
        self.scripts = 0
        self.articles: list[dict] = []
        self.text: list[str] = []
        self._stack: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        if tag == "script":
            self.scripts += 1
        if tag == "article":
            self.articles.append({"classes": classes, "grids": 0, "cells": 0, "over": 0, "scripts": [], "id": attrs["id"]})
        if self.articles and tag == "table" and "grid" in classes:
            self.articles[-1]["grids"] += 1
        if self.articles and tag == "td" and "style" in attrs:
            self.articles[-1]["cells"] += 1
            self.articles[-1]["over"] += "over" in classes
        self._stack.append("script" if tag == "pre" and "script" in classes else tag)

    def handle_endtag(self, tag):
        if self._stack:
            self._stack.pop()

    def handle_data(self, data):
        self.text.append(data)
        if self._stack and self._stack[-1] == "script" and self.articles and "article" in self._stack:
            self.articles[-1]["scripts"].append(data)


SWEEP_AND_CHECKS = """
import sys
from harness.cli import main
records = sys.argv[1]
codes = [main(["sweep", "--examples", "12", "--seed", "4", "--records", records, "--quiet"])]
codes += [main(["check", spec, "--seed", "3", "--records", records]) for spec in sys.argv[2:]]
sys.exit(max(codes))
"""


@pytest.fixture(scope="module")
def sweep_report(tmp_path_factory):
    """A real sweep plus a check of a known TensorFlow bug and refusal, all in one
    records file, under the Eigen kernels (one fresh process); then the report."""
    folder = tmp_path_factory.mktemp("report")
    records = folder / "records.jsonl"
    run = subprocess.run([sys.executable, "-c", SWEEP_AND_CHECKS, str(records), TF_CONV3D_BUG.to_json(),
                          TF_CONV3D_GROUPS.to_json()], capture_output=True, text=True,
                         env={**os.environ, **EIGEN}, timeout=600)
    assert run.returncode in (0, 1), run.stderr[-2000:]
    output = folder / "index.html"
    report = build_report([records], output)
    return records, report, output.read_text(encoding="utf-8")


@SLOW
@pytest.mark.xdist_group("sweep_report")
def test_report_of_a_sweep_parses_and_every_mismatch_has_a_heat_map_and_a_reproducer(sweep_report):
    records, report, text = sweep_report
    page = Page(text)
    assert page.scripts == 1  # the report's own table script, nothing else
    mismatches = [a for a in page.articles if "status-mismatch" in a["classes"]]
    if "tensorflow" in FRAMEWORK_BACKENDS:
        assert mismatches, "the TensorFlow conv3d SAME bug should show under TF_ENABLE_ONEDNN_OPTS=0"
    for article in mismatches:
        assert article["grids"] >= 1 and article["cells"] > 0 and article["over"] > 0, article
        assert any("import numpy as np" in chunk for chunk in article["scripts"]), article["id"]
    statuses = [r.status for r in read_records([records])[0]]
    assert report.cases == 14
    assert len(report.failures) == sum(s not in ("pass", "unsupported") for s in statuses)
    assert sum(len(d.cases) for d in report.refusals) == statuses.count("unsupported")


@SLOW
@pytest.mark.xdist_group("sweep_report")
@needs_tensorflow
def test_reproducers_print_the_numbers_the_harness_recorded(sweep_report):
    records, report, _ = sweep_report
    details = {d.status: d for d in (*report.refusals, *report.failures) if d.backend == "tensorflow"}
    assert details.keys() >= {"mismatch", "unsupported"}
    for detail in (details["mismatch"], details["unsupported"]):
        (record,) = [r for r in read_records([records])[0]
                     if r.backend == "tensorflow" and r.status == detail.status and r.seed == detail.seed
                     and r.conv_spec.to_json() == detail.spec_json]
        out = subprocess.run([sys.executable, "-c", detail.reproducer], capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        lines = out.stdout.splitlines()
        if record.status == "mismatch":
            printed = next(line for line in lines if line.startswith(RESULT_MARK))
            assert float(printed[len(RESULT_MARK):]) == record.max_abs_error
        else:
            printed = next(line for line in lines if line.startswith(REFUSED_MARK))[len(REFUSED_MARK):]
            from harness.backends import get_backend

            assert get_backend("tensorflow").message(Exception(printed)) in record.message


@SLOW
@pytest.mark.parametrize("backend", [b for b in FRAMEWORK_BACKENDS if b != "tensorflow"])
def test_reproducer_of_each_backend_prints_the_error_check_measures(backend):
    from harness import check

    spec = ConvSpec(layout="NHWC", in_channels=4, out_channels=6, spatial=(5, 6), kernel=(2, 3), stride=(2, 1),
                    padding="same", groups=2, bias=True)
    outcome = check(spec, seed=5, backends=[backend]).outcomes[0]
    script = reproducer(spec, backend, outcome.invocation, seed=5, status=outcome.status,
                        expected=reference(spec, *make_inputs(spec, 5)))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    printed = next(line for line in out.stdout.splitlines() if line.startswith(RESULT_MARK))
    assert float(printed[len(RESULT_MARK):]) == outcome.max_abs_error
    worst = next(line for line in out.stdout.splitlines() if line.startswith("worst index: "))
    assert worst == f"worst index: {outcome.worst_index}"  # plain integers, as the harness prints them


def _record(**changes) -> dict:
    spec = ConvSpec(layout="NCW", in_channels=1, out_channels=1, spatial=4, kernel=2)
    record = {"case": 0, "spec": spec.to_dict(), "seed": 0, "backend": "torch", "version": "x", "status": "pass",
              "max_abs_error": 0.0, "max_rel_error": 0.0, "ratio": 0.0, "worst_index": [0, 0, 0], "message": "",
              "invocation": {"imports": ["import torch"], "inputs": ["x, w = torch.from_numpy(x), torch.from_numpy(w)"],
                             "body": ["y = torch.nn.functional.conv1d(x, w)"], "outputs": ["y = y.numpy()"],
                             "native": "y = torch.nn.functional.conv1d(x, w)"},
              "environment": {"python": "3.11", "platform": "Linux", "versions": {"torch": "x"}}}
    record.update(changes)
    return record


def test_strings_from_records_are_escaped(tmp_path):
    records = tmp_path / "r.jsonl"
    evil = "<script>alert('x')</script>"
    lines = [_record(status="error", message=f"RuntimeError: {evil}", invocation=None),
             _record(status="unsupported", backend="tensorflow", message=evil, version=evil)]
    records.write_text("".join(json.dumps(r) + "\n" for r in lines))
    output = tmp_path / "index.html"
    build_report([records], output)
    text = output.read_text()
    page = Page(text)
    assert page.scripts == 1
    assert evil not in text
    assert evil in "".join(page.text)  # shown to the reader, as text


def test_truncated_record_line_still_renders_and_is_counted(tmp_path, capsys):
    records = tmp_path / "r.jsonl"
    records.write_text(json.dumps(_record()) + "\n" + json.dumps(_record(case=1))[:40])
    output = tmp_path / "index.html"
    assert main(["report", str(records), "-o", str(output)]) == 0
    assert "skipped 1 unreadable lines" in capsys.readouterr().out
    assert "Skipped 1 unreadable record line " in "".join(Page(output.read_text()).text)


def test_report_of_a_missing_file_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["report", str(tmp_path / "none.jsonl")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "records" in err


def _matrix_1d_cells(tmp_path, lines):
    """The report of these records, and its matrix's cells in the 1-D column by version."""
    records = tmp_path / "r.jsonl"
    records.write_text("".join(json.dumps(r) + "\n" for r in lines))
    report = build_report([records], tmp_path / "index.html")
    column = report.matrix.columns.index(("rank", "1d"))
    return report, {version: cells[column] for version, cells in report.matrix.rows}


def test_version_matrix_counts_each_framework_version_separately(tmp_path):
    report, cells = _matrix_1d_cells(tmp_path, [
        _record(version="2.18.1", backend="tensorflow", status="unsupported", message="no"),
        _record(version="2.21.0", backend="tensorflow"),
        _record(version="2.21.0", backend="tensorflow", seed=1)])
    assert cells["tensorflow 2.18.1"].counts == (("unsupported", 1),)
    assert cells["tensorflow 2.21.0"].counts == (("pass", 2),)
    assert report.cases == 2


def test_version_matrix_shows_which_versions_crash_on_a_case(tmp_path):
    crashed = "crashed: the process running jax on this spec died (signal SIGABRT)"
    _, cells = _matrix_1d_cells(tmp_path, [
        _record(version="0.4.38", backend="jax", status="error", message=crashed),
        _record(version="0.10.2", backend="jax", status="error", message="ValueError: raised, not crashed"),
        _record(version="0.10.2", backend="jax", seed=1)])
    assert cells["jax 0.4.38"].counts == (("crashed", 1),) and cells["jax 0.4.38"].worst == "error"
    assert cells["jax 0.10.2"].counts == (("pass", 1), ("error", 1))
    assert 'title="crashed">1</span>' in (tmp_path / "index.html").read_text()


def test_where_errors_sit_names_border_everywhere_and_scattered():
    bound = np.full((1, 1, 6, 6), 0.5)
    border = np.zeros((1, 1, 6, 6))
    border[..., 0, :] = 1.0  # the first row only: a padding convention
    assert where_errors_sit(border, bound, channels_last=False) == "border"
    assert where_errors_sit(np.ones((1, 1, 6, 6)), bound, channels_last=False) == "everywhere"
    scattered = np.zeros((1, 1, 6, 6))
    scattered[..., 2, 3] = 1.0
    assert where_errors_sit(scattered, bound, channels_last=False) == "scattered"
    assert where_errors_sit(np.zeros((1, 1, 6, 6)), bound, channels_last=False) == "none"
    # channels-last: the same border, moved to NHWC
    assert where_errors_sit(border.transpose(0, 2, 3, 1), bound.transpose(0, 2, 3, 1), channels_last=True) == "border"


def test_heat_map_puts_the_worst_slice_first_and_marks_cells_over_the_bound():
    errors = np.zeros((1, 2, 2, 3))  # NCHW: channel 1 holds the error
    errors[0, 1, 1, 2] = 4.0
    drawn = heat_map({"shape": [1, 2, 2, 3], "abs": errors.ravel().tolist(), "bound": [1.0] * 12}, "NCHW")
    first = drawn.slices[0]
    assert first.label == "n=0 c=1"
    assert [[c.over for c in row] for row in first.rows] == [[False] * 3, [False, False, True]]
    assert drawn.peak == 4.0
    assert first.rows[1][2].colour == "rgb(255,0,0)" and first.rows[0][0].colour == "rgb(255,255,230)"


@SLOW
@pytest.mark.parametrize("backend", FRAMEWORK_BACKENDS[:1])
def test_reproducer_of_a_port_layer_loads_its_saved_inputs(tmp_path, backend):
    from harness import check

    spec = ConvSpec(layout="NCW", in_channels=2, out_channels=3, spatial=9, kernel=3, bias=True)
    rng = np.random.default_rng(0)
    x, w, b = (rng.normal(size=s).astype(np.float32) for s in (spec.input_shape, spec.weight_shape, (3,)))
    from harness.reference import reference

    np.savez(tmp_path / "layer.npz", x=x, w=w, b=b, expected=reference(spec, x, w, b))
    outcome = check(spec, backends=[backend], inputs=(x, w, b)).outcomes[0]
    script = reproducer(spec, backend, outcome.invocation, seed=None, inputs_file=str(tmp_path / "layer.npz"),
                        inputs=(x, w, b), expected_in_file=True)
    assert "np.load(" in script and "default_rng" not in script and 'expected = data["expected"]' in script
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    printed = next(line for line in out.stdout.splitlines() if line.startswith(RESULT_MARK))
    assert float(printed[len(RESULT_MARK):]) == outcome.max_abs_error


def test_reproducers_are_collapsed_and_the_page_plots_each_backend_and_dtype(tmp_path):
    records = tmp_path / "r.jsonl"
    lines = [_record(status="mismatch", ratio=86.2, max_abs_error=0.5), _record(ratio=0.25, seed=1),
             _record(ratio=0.0, seed=2), _record(backend="jax", ratio=0.004, seed=3)]
    records.write_text("".join(json.dumps(r) + "\n" for r in lines))
    output = tmp_path / "index.html"
    report = build_report([records], output)
    text = output.read_text()
    assert '<details class="reproducer">' in text and "<details class=\"reproducer\" open" not in text
    assert '<div class="scroll matrix-box">\n  <table class="matrix">' in text  # the matrix scrolls in its own box
    plots = {(p.backend, p.dtype): p for p in report.distributions}
    assert set(plots) == {("torch", "float32"), ("jax", "float32")}
    torch_bars = {bar.label: (bar.count, bar.over) for bar in plots[("torch", "float32")].bars if bar.count}
    assert torch_bars == {"0": (1, False), "0.1-1": (1, False), ">10": (1, True)}
    assert text.count('<rect class="over"') == 3 * len(plots)  # three bins beyond the bound per plot
    assert text.count("<svg") == 2


@pytest.mark.parametrize("ratio,words", [(0.0, ""), (1e-7, "<1e-6"), (1e-6, "1e-6"), (0.05, "0.01"),
                                         (1.0, "0.1-1"), (1.5, ">1"), (10.0, ">1"), (11.0, ">10"),
                                         (2.57e26, ">100"), (float("inf"), ">100"), (float("nan"), ">100")])
def test_each_ratio_falls_in_its_decade(ratio, words):
    from harness.report.histogram import BIN_LABELS, ratio_bin

    assert BIN_LABELS[ratio_bin(ratio)] == (words or "0")


@pytest.mark.parametrize("ratio,says", [(3.0, "precision"), (2.57e26, "far beyond what rounding explains")])
def test_scattered_errors_are_called_precision_only_when_precision_can_explain_them(tmp_path, ratio, says):
    records = tmp_path / "r.jsonl"
    errors, bound = [0.0] * 36, [1.0] * 36
    errors[14] = ratio
    record = _record(status="mismatch", ratio=ratio, spec=ConvSpec(layout="NCHW", in_channels=1, out_channels=1,
                                                                   spatial=8, kernel=3).to_dict(),
                     error_map={"shape": [1, 1, 6, 6], "abs": errors, "bound": bound})
    records.write_text(json.dumps(record) + "\n")
    (detail,) = build_report([records], tmp_path / "index.html").failures
    assert detail.pattern.startswith("in scattered places") and says in detail.pattern


@SLOW
@pytest.mark.parametrize("backend", FRAMEWORK_BACKENDS[:1])
@pytest.mark.parametrize("spatial,inlined", [(9, True), (40000, False)])
def test_a_port_failure_names_its_model_and_layer_and_its_reproducer_survives_a_move(tmp_path, backend, spatial,
                                                                                      inlined):
    import shutil

    from harness import check
    from harness.reference import reference

    spec = ConvSpec(layout="NCW", in_channels=2, out_channels=3, spatial=spatial, kernel=3, bias=True)
    rng = np.random.default_rng(0)
    x, w, b = (rng.normal(size=s).astype(np.float32) for s in (spec.input_shape, spec.weight_shape, (3,)))
    outcome = check(spec, backends=[backend], inputs=(x, w, b)).outcomes[0]
    made, moved = tmp_path / "made", tmp_path / "moved"
    (made / "port.inputs").mkdir(parents=True)
    np.savez_compressed(made / "port.inputs" / "Net-1.npz", x=x, w=w, b=b, expected=reference(spec, x, w, b))
    record = _record(backend=backend, status="mismatch", spec=spec.to_dict(), seed=None,
                     invocation=outcome.invocation.to_dict(),
                     max_abs_error=outcome.max_abs_error, ratio=2.0, model="Net", layer="features.1",
                     layer_index=1, kind="Conv1d", inputs="port.inputs/Net-1.npz")
    (made / "port.jsonl").write_text(json.dumps(record) + "\n")
    shutil.move(made, moved)  # the records and their inputs folder, moved together
    (detail,) = build_report([moved / "port.jsonl"], tmp_path / "page" / "index.html").failures
    assert detail.where == "model Net, layer features.1 (#1)"
    assert ("np.load(" not in detail.reproducer) == inlined
    assert detail.inputs.startswith("the layer's inputs are " + ("inlined" if inlined else "loaded from ../moved/"))
    out = subprocess.run([sys.executable, "-c", detail.reproducer], capture_output=True, text=True, timeout=300,
                         cwd=tmp_path / "page")
    printed = next(line for line in out.stdout.splitlines() if line.startswith(RESULT_MARK))
    assert float(printed[len(RESULT_MARK):]) == outcome.max_abs_error
    assert "model Net, layer features.1 (#1)" in (tmp_path / "page" / "index.html").read_text()


def test_every_histogram_axis_label_fits_whole_inside_its_plot(tmp_path):
    import re

    records = tmp_path / "r.jsonl"
    records.write_text(json.dumps(_record(status="mismatch", ratio=500.0, max_abs_error=0.5)) + "\n")
    output = tmp_path / "index.html"
    build_report([records], output)
    (svg,) = re.findall(r"<svg [^>]*aria-label=\"error/bound histogram.*?</svg>", output.read_text(), re.S)
    width, height = (float(v) for v in re.search(r'width="([\d.]+)" height="([\d.]+)"', svg).groups())
    labels = re.findall(r'<text x="([\d.]+)" y="([\d.]+)" font-size="([\d.]+)" transform="rotate\(45 [^"]*\)">'
                        r"([^<]*)</text>", svg)
    assert [html.unescape(text) for *_, text in labels][-1] == ">100"  # the whole label, not >10
    for x, y, size, text in labels:
        # a text turned 45 degrees reaches sqrt(1/2) x (its length + its height) right of its start and less
        # below it; a monospace character is at most 0.62 of the font size wide
        reach = 0.5 ** 0.5 * (len(html.unescape(text)) * 0.62 * float(size) + float(size))
        assert float(x) + reach <= width and float(y) + reach <= height, (text, x, y, width, height)
    css = (Path(build_report.__code__.co_filename).parent / "templates" / "report.css").read_text()
    assert re.search(r"\.histogram text \{ font-family: [^}]*monospace", css)


def _port_records(folder: Path) -> list[Path]:
    """A records file of three failing port layers (inputs inlined in the reproducer, inputs
    too large to inline, inputs moved away), a layer that is no spec, a declared refusal
    and a comparison: every kind of section, and every way a reproducer gets its inputs."""
    (folder / "port.inputs").mkdir(parents=True)
    small = ConvSpec(layout="NCW", in_channels=1, out_channels=1, spatial=4, kernel=2)
    lines = []
    for index, spec in enumerate((small, small.replace(spatial=70000))):  # 280 kB of x: loaded, not inlined
        x, w, _ = make_inputs(spec, index)
        np.savez(folder / "port.inputs" / f"Net-{index}.npz", x=x, w=w, expected=reference(spec, x, w, None))
        lines.append(_record(status="mismatch", spec=spec.to_dict(), seed=None, ratio=2.0, max_abs_error=0.5,
                             model="Net", layer=f"conv{index}", layer_index=index, kind="Conv1d",
                             inputs=f"port.inputs/Net-{index}.npz"))
    lines.append({**lines[0], "layer": "moved", "layer_index": 2, "inputs": "port.inputs/moved.npz"})
    lines.append({**_record(spec=None, backend="spec", status="unsupported", message="a pooling layer"),
                  "model": "Net", "layer": "pool", "layer_index": 3, "kind": "AvgPool1d"})
    lines.append(_record(backend="tensorflow", status="unsupported", message="no: grouped", seed=4))
    records = folder / "port.jsonl"
    records.write_text("".join(json.dumps(r) + "\n" for r in lines))
    comparison = folder / "compare.json"
    comparison.write_text(json.dumps({
        "source": "Net", "target": "Port", "first_divergence": "conv1",
        "final_output": {"source_shape": [1, 1, 3], "target_shape": [1, 1, 3], "max_abs_error": 0.5,
                         "max_rel_error": 1.0},
        "pairs": [{"source": "conv0", "target": "conv0", "verdict": "agree"},
                  {"source": "conv1", "target": "conv1", "verdict": "differs", "detail": "flipped", "fix": "flip"}]}))
    return [records, comparison]


def _undated(page: str) -> str:
    import re

    return re.sub(r"generated \d{4}-\d\d-\d\d \d\d:\d\d UTC", "generated (when)", page)


def test_the_page_is_built_and_rendered_from_what_was_loaded_without_reading_a_file(tmp_path, monkeypatch):
    """Every file is read by the loading step: with the records and the inputs they name gone,
    and every way of reading a file failing, the page built from what was loaded is the page
    that build_report wrote."""
    import builtins
    import io
    import shutil

    from harness.report import build, load, render

    paths = _port_records(tmp_path / "made")
    page = tmp_path / "page" / "index.html"
    build_report(paths, page)
    loaded = load(paths)
    shutil.rmtree(tmp_path / "made")

    def no_reading(*args, **kwargs):
        raise AssertionError(f"a file was read after loading: {args[:1]}")

    for module, name in ((builtins, "open"), (io, "open"), (np, "load"), (Path, "read_text"), (Path, "read_bytes")):
        monkeypatch.setattr(module, name, no_reading)
    report = build(loaded.records, loaded.paths, loaded.skipped, page_folder=page.parent,
                   comparisons=loaded.comparisons, inputs=loaded.inputs)
    text = render(report)
    monkeypatch.undo()
    assert _undated(text) == _undated(page.read_text(encoding="utf-8"))
    inputs = [detail.inputs for detail in report.failures]
    assert inputs[0] == "the layer's inputs are inlined in the script"
    assert inputs[1].startswith("the layer's inputs are loaded from ../made/port.inputs/Net-1.npz")
    assert report.failures[2].reproducer.startswith("# no reproducer: inputs: no such file ")
    assert [m.layers[3].state for m in report.models] == ["unchecked"] and len(report.comparisons) == 1


def test_every_page_model_is_frozen_and_holds_no_mutable_container(tmp_path):
    """What the page shows is built in one pass as values: every dataclass in the report is
    frozen, and every collection in it a tuple."""
    report = build_report(_port_records(tmp_path / "made"), tmp_path / "index.html")
    seen, stack = [], [report]
    while stack:
        value = stack.pop()
        assert not isinstance(value, (list, dict, set, bytearray)), (type(value).__name__, value)
        if dataclasses.is_dataclass(value):
            assert type(value).__dataclass_params__.frozen, type(value).__name__
            seen.append(type(value).__name__)
            stack += [getattr(value, field.name) for field in dataclasses.fields(value)]
        elif isinstance(value, tuple):
            stack += value
    assert {"Report", "Detail", "Row", "Matrix", "MatrixCell", "ModelPage", "LayerRow", "ComparisonPage", "PairRow",
            "Distribution", "Bar", "Environment"} <= set(seen)


def test_the_environment_label_names_every_framework_version_recorded():
    from harness.report.environments import environment_key

    env = {"python": "3.12", "versions": {"numpy": "2.4", "torch": "2.13", "keras": "3.15", "flax": "0.12",
                                          "onnxruntime": "1.31"}, "variables": {"TF_ENABLE_ONEDNN_OPTS": "0"}}
    label = environment_key(env)
    assert label.startswith("python 3.12, ")
    for part in ("numpy 2.4", "torch 2.13", "keras 3.15", "flax 0.12", "onnxruntime 1.31", "TF_ENABLE_ONEDNN_OPTS=0"):
        assert part in label
