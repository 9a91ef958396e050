"""What the report page shows, built from records in one step; rendering is
separate (``render.py``) and only formats these values."""

from __future__ import annotations

import bisect
import collections
import dataclasses
import math
import os
import re
from pathlib import Path

import numpy as np

from ..porting.model_comparison import final_output_text
from ..records import Record
from ..spec import ConvSpec
from ..status import STATUSES, Status
from ..tolerance import where_errors_sit
from .heatmap import HeatMap, heat_map

PATTERN_HINTS = {
    "border": "on the border only: a padding convention",
    "everywhere": "on most positions: systematic (a layout, weight-order or kernel-flip mistake, or shifted windows)",
    "scattered": "in scattered places: precision (rounding beyond the bound, as a lower-precision accumulation "
                 "gives), or a mistake that touches some positions",
    "scattered-far": "in scattered places, far beyond what rounding explains: a mistake that touches some "
                     "positions, or values the framework never computed (uninitialised memory)",
    "none": "no element beyond the bound",
}

# The largest error/bound that precision alone explains: a float32 spec computed
# with TF32's 10-bit mantissa (eps 2**-10 against 2**-23) is off by 2**13 x its bound.
PRECISION_EXPLAINS = 2.0**13

# Port layers whose inputs hold at most this many bytes are inlined in their
# reproducer, so the page works wherever it is moved; larger ones are loaded
# from their .npz, by a path relative to the page.
INLINE_INPUTS_BYTES = 256 * 1024


def pattern_hint(pattern: str, ratio: float | None) -> str:
    if pattern == "scattered" and (ratio is None or not ratio <= PRECISION_EXPLAINS):
        pattern = "scattered-far"
    return PATTERN_HINTS.get(pattern, "")


# The distribution plot's bins of error/bound: exact, a decade each up to the
# bound (the last one includes 1, a pass), then beyond it.
DECADES = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)
BIN_LABELS = ("0", "<1e-6", "1e-6", "1e-5", "1e-4", "1e-3", "0.01", "0.1-1", ">1", ">10", ">100")
FIRST_OVER = BIN_LABELS.index(">1")


def ratio_bin(ratio: float) -> int:
    if ratio == 0:
        return 0
    if ratio <= 1:
        return 1 + bisect.bisect_right(DECADES, ratio)
    return FIRST_OVER + (not ratio <= 10) + (not ratio <= 100)  # NaN and infinity in the last


@dataclasses.dataclass(frozen=True)
class Environment:
    key: str
    label: str
    platform: str
    records: int


@dataclasses.dataclass
class Row:
    """One case in one environment, in the filterable table of outcomes."""

    case: str
    environment: str
    spec: str
    outcomes: list  # (backend, status, anchor of its detail or "")
    ratios: list
    tags: list  # what the filter searches: key=value words

    @property
    def worst(self) -> str:
        return _fmt(max(self.ratios, default=None))

    @property
    def search(self) -> str:
        return " ".join(self.tags)


# A matrix cell counts an error whose backend killed its process apart, as "crashed":
# which framework versions still crash on a declared crash's example shows at a glance.
CRASHED = "crashed"
MATRIX_COUNTS = (*STATUSES, CRASHED)


def matrix_status(record: Record) -> str:
    return CRASHED if record.status == Status.ERROR and record.message.startswith("crashed:") else str(record.status)


@dataclasses.dataclass(frozen=True)
class MatrixCell:
    counts: tuple[tuple[str, int], ...]  # (status, count), non-zero only
    filter: str

    @property
    def worst(self) -> str:
        for status in (CRASHED, Status.ERROR, Status.SHAPE_MISMATCH, Status.MISMATCH, Status.UNSUPPORTED, Status.PASS):
            if any(s == status for s, _ in self.counts):
                return Status.ERROR if status == CRASHED else status
        return "empty"


@dataclasses.dataclass(frozen=True)
class Matrix:
    columns: tuple[tuple[str, str], ...]  # (family, value)
    rows: tuple[tuple[str, tuple[MatrixCell, ...]], ...]  # (framework version, cells)


@dataclasses.dataclass(frozen=True)
class Detail:
    """One mismatch, shape mismatch, error or refusal, with what it takes to reproduce it."""

    anchor: str
    title: str
    status: str
    backend: str
    version: str
    environment: str
    spec: str
    spec_json: str
    seed: int
    exact: bool
    input_shape: str
    output_shape: str
    numbers: tuple[tuple[str, str], ...]
    pattern: str
    heat_map: HeatMap | None
    call: str
    notes: tuple[str, ...]
    message: str
    reproducer: str
    reproducer_name: str
    cases: tuple[str, ...] = ()  # for a refusal: every case refused the same way
    where: str = ""  # for a port's layer: the model and the layer
    inputs: str = ""  # how the reproducer gets its inputs, where that is not the seed


@dataclasses.dataclass(frozen=True)
class LayerRow:
    index: int
    name: str
    kind: str
    spec: str
    outcomes: tuple[tuple[str, str, str], ...]  # (backend, status, anchor of its detail or "")
    worst: str
    verdict: str
    calls: tuple[tuple[str, str], ...]  # (backend, pasteable code)
    state: str  # "agree", "disagree" or "unchecked"


@dataclasses.dataclass(frozen=True)
class ModelPage:
    anchor: str
    name: str
    environment: str
    layers: tuple[LayerRow, ...]

    @property
    def disagreeing(self) -> int:
        return sum(row.state == "disagree" for row in self.layers)


@dataclasses.dataclass(frozen=True)
class PairRow:
    source: str
    target: str
    verdict: str
    css: str  # the status class its verdict is shown in
    detail: str
    fix: str
    call: str  # pasteable code computing the source layer in the target's framework, where they differ
    first: bool  # the first divergence


@dataclasses.dataclass(frozen=True)
class ComparisonPage:
    """A model against its port (what ``compare --json`` wrote): the pairs side by side."""

    anchor: str
    source: str
    target: str
    rows: tuple[PairRow, ...]
    first: str  # the first divergence's layer, or ""
    final: str  # the final outputs, in words


VERDICT_CSS = {"agree": "pass", "differs": "mismatch", "input_differs": "mismatch", "unpaired": "unsupported"}


def comparison_pages(comparisons: list[dict]) -> tuple[ComparisonPage, ...]:
    pages = []
    for index, data in enumerate(comparisons, 1):
        first = data.get("first_divergence") or ""
        final = data.get("final_output", {})
        said = final_output_text(final)
        rows, marked = [], False
        for pair in data["pairs"]:
            is_first = not marked and pair["verdict"] != "agree"
            marked = marked or is_first
            rows.append(PairRow(pair.get("source") or "-", pair.get("target") or "-", pair["verdict"],
                                VERDICT_CSS.get(pair["verdict"], ""), pair.get("detail", ""), pair.get("fix", ""),
                                pair.get("call", ""), is_first))
        pages.append(ComparisonPage(f"compare-{index}", data.get("source", "?"), data.get("target", "?"),
                                    tuple(rows), first, said))
    return tuple(pages)


@dataclasses.dataclass(frozen=True)
class Bar:
    label: str  # the bin's lower edge ("0" holds exact results)
    count: int
    height: int  # pixels, against the plot's tallest bar
    over: bool  # the bin lies beyond the bound


@dataclasses.dataclass(frozen=True)
class Distribution:
    """How close to the bound one backend's results run in one dtype: a histogram
    of error/bound on a log axis (each bin a decade)."""

    backend: str
    dtype: str
    bars: tuple[Bar, ...]
    total: int

    HEIGHT = 48  # pixels of the tallest bar
    STEP = 16  # pixels from one bar to the next; bar i's axis label starts at (10 + STEP*i, LABEL_Y), turned 45 degrees
    LABEL_Y = HEIGHT + 16
    FONT = 9  # the axis labels' size in pixels; their font is monospace (report.css), a character at most 0.62 wide

    def _reach(self, label: str) -> float:
        """How far a label turned 45 degrees reaches right of (and below) its start: its
        length along the slope, plus its height for the glyphs that lean right."""
        return math.sqrt(0.5) * (len(label) * 0.62 * self.FONT + self.FONT)

    @property
    def width(self) -> int:
        """Pixels wide enough for every bar and every axis label, whole."""
        return math.ceil(max(10 + self.STEP * i + self._reach(bar.label) for i, bar in enumerate(self.bars)) + 4)

    @property
    def height(self) -> int:
        return math.ceil(self.LABEL_Y + max(self._reach(bar.label) for bar in self.bars) + 4)


def distributions(ratios: dict[tuple[str, str], list[float]]) -> tuple[Distribution, ...]:
    """One histogram per (backend, dtype) of the records' error/bound ratios."""
    plots = []
    for (backend, dtype), values in sorted(ratios.items()):
        counts = collections.Counter(map(ratio_bin, values))
        peak = max(counts.values())
        bars = tuple(Bar(label, counts[i], round(Distribution.HEIGHT * counts[i] / peak), i >= FIRST_OVER)
                     for i, label in enumerate(BIN_LABELS))
        plots.append(Distribution(backend, dtype, bars, len(values)))
    return tuple(plots)


@dataclasses.dataclass(frozen=True)
class Report:
    title: str
    sources: tuple[str, ...]
    skipped_lines: int
    cases: int
    environments: tuple[Environment, ...]
    statuses: tuple[str, ...]
    counts: tuple[tuple[str, tuple[int, ...]], ...]  # backend -> count per status
    matrix: Matrix
    failures: tuple[Detail, ...]
    refusals: tuple[Detail, ...]
    rows: tuple[Row, ...]
    models: tuple[ModelPage, ...] = ()
    distributions: tuple[Distribution, ...] = ()
    comparisons: tuple[ComparisonPage, ...] = ()


def environment_key(env: dict) -> str:
    versions = env.get("versions", {})
    parts = [f"{name} {versions[name]}" for name in ("torch", "tensorflow", "jax", "numpy") if name in versions]
    extra = [f"{k}={v}" for k, v in sorted(env.get("variables", {}).items())]
    cpu = [env["cpu"]["name"]] if env.get("cpu") else []  # one CPU's kernels are not another's
    gpu = [f"{env['device']} {env.get('gpu', {}).get('name', '')}".strip()] if env.get("device") else []
    return ", ".join([f"python {env.get('python', '?')}", *parts, *extra, *cpu, *gpu])


def machine(env: dict) -> str:
    """The platform and, where recorded, the CPU with the instruction sets that choose kernels."""
    cpu = env.get("cpu")
    if not cpu:
        return env.get("platform", "")
    flags = f" ({' '.join(cpu['flags'])})" if cpu.get("flags") else ""
    gpu = env.get("gpu") or {}
    on = f"; on {env.get('device')}: {gpu.get('name', '?')}" + "".join(
        f", {key} {gpu[key]}" for key in ("capability", "cuda", "cudnn") if gpu.get(key)) if env.get("device") else ""
    return f"{env.get('platform', '')}, {cpu['name']}{flags}{on}"


def families(spec: ConvSpec) -> tuple[tuple[str, str], ...]:
    """The case families a spec belongs to: one value per family."""
    groups = "1" if spec.groups == 1 else ("depthwise" if spec.groups == spec.in_channels else "grouped")
    return (
        ("rank", f"{spec.rank}d"),
        ("kind", "transposed" if spec.transposed else "forward"),
        ("layout", spec.layout),
        ("padding", spec.padding_kind),
        ("padding mode", spec.padding_mode),
        ("groups", groups),
        ("dilation", "1" if all(d == 1 for d in spec.dilation) else "dilated"),
        ("dtype", spec.dtype),
    )


FAMILY_ORDER = ("rank", "kind", "layout", "padding", "padding mode", "groups", "dilation", "dtype")


def _natural(text: str) -> list:
    """Sort key that puts jax 0.4.38 before jax 0.10.2."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.3g}"


def _detail(index: int, record: Record, spec: ConvSpec, env_label: str, page_folder: Path) -> Detail:
    pattern, drawn = "", None
    if record.error_map:
        shape = record.error_map["shape"]
        pattern = pattern_hint(where_errors_sit(np.reshape(record.error_map["abs"], shape),
                                                np.reshape(record.error_map["bound"], shape), spec.channels_last),
                               record.ratio)
        drawn = heat_map(record.error_map, spec.layout)
    script, inputs = _reproducer(record, spec, page_folder)
    numbers = (("max abs error", _fmt(record.max_abs_error)), ("max rel error", _fmt(record.max_rel_error)),
               ("error / bound", _fmt(record.ratio)),
               ("worst index", str(record.worst_index) if record.worst_index else "-"))
    where = f"model {record.model}, layer {record.layer} (#{record.layer_index})" if record.model else ""
    call = record.invocation
    return Detail(
        anchor=f"d{index}", title=f"{record.backend} {record.version}: {record.status}",
        status=str(record.status), backend=record.backend, version=record.version, environment=env_label,
        spec=spec.describe(), spec_json=spec.to_json(), seed=record.seed, exact=record.exact,
        input_shape=str(spec.input_shape), output_shape=str(spec.output_shape),
        numbers=numbers, pattern=pattern, heat_map=drawn,
        call=call.code if call else "", notes=call.notes if call else (), message=record.message,
        reproducer=script, reproducer_name=f"reproduce_{index}_{record.backend.replace('.', '_')}.py", cases=[],
        where=where, inputs=inputs,
    )


def _reproducer(record: Record, spec: ConvSpec, page_folder: Path) -> tuple[str, str]:
    """The standalone script for a record, rendered from the call it stores, and
    how it gets its inputs where that is not the seed: a port layer's inputs
    inlined when small, else loaded from its .npz by a path relative to the page."""
    from ..inputs import load_inputs
    from ..records import decode_array
    from ..reproducer import reproducer

    if record.invocation is None or not record.invocation.body:
        return "# no reproducer: the backend raised before it made a call", ""
    options = dict(seed=record.seed, status=str(record.status), recorded=_recorded(record), exact=record.exact,
                   variables=record.environment.get("variables", {}), precision=record.precision,
                   expected=None if record.expected is None else decode_array(record.expected))
    inputs = ""
    try:
        if record.inputs:
            saved = Path(record.inputs)
            arrays = load_inputs(saved)
            if sum(a.nbytes for a in arrays if a is not None) <= INLINE_INPUTS_BYTES:
                if options["expected"] is None:  # too large for the record: port saved it with the inputs
                    with np.load(saved) as data:
                        options["expected"] = data["expected"] if "expected" in data.files else None
                options.update(seed=None, inputs=arrays)
                inputs = "the layer's inputs are inlined in the script"
            else:
                relative = os.path.relpath(saved, page_folder)
                options.update(seed=None, inputs_file=relative, inputs_path=saved)
                inputs = (f"the layer's inputs are loaded from {relative}, relative to this page: keep that "
                          "folder beside the page and run the script from the page's folder")
        return reproducer(spec, record.backend, record.invocation, **options), inputs
    except (ValueError, OSError) as exc:  # a moved inputs file
        return f"# no reproducer: {exc}", inputs


def _recorded(record: Record) -> str:
    if record.status == Status.UNSUPPORTED:
        return f"unsupported ({record.message})"
    return (f"{record.status}, max abs error {record.max_abs_error!r}, "
            f"error/bound {_fmt(record.ratio)} ({record.backend} {record.version})")


def build(records: list[Record], sources: tuple[str, ...] = (), skipped_lines: int = 0,
          title: str = "convharness report", page_folder: str | Path = ".", comparisons: list[dict] = ()) -> Report:
    """Everything the page shows, from JSON Lines records and comparisons (``compare --json``)."""
    envs: dict[str, list] = {}
    cases: dict[tuple[str, int], str] = {}
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    cells: dict[tuple[str, tuple[str, str]], collections.Counter] = collections.defaultdict(collections.Counter)
    versions: dict[str, None] = {}
    columns: set[tuple[str, str]] = set()
    failures, rows = [], {}
    refusals: dict[tuple[str, str, str], Detail] = {}
    anchors: dict[int, str] = {}
    ratios: dict[tuple[str, str], list[float]] = collections.defaultdict(list)
    for position, record in enumerate(records):
        key = environment_key(record.environment)
        envs.setdefault(key, [machine(record.environment), 0])[1] += 1
        if record.spec is None:  # a model layer that is no spec: shown on its model's page
            continue
        spec = record.conv_spec
        case = cases.setdefault((spec.to_json(), record.seed), f"c{len(cases) + 1}")
        where = "" if record.device == "cpu" else f" on {record.device}"  # a GPU's results are not the CPU's
        backend, status = record.backend, str(record.status)
        version = f"{backend} {record.version}".strip() + where
        versions[version] = None
        counts[backend + where][status] += 1
        for family in families(spec):
            columns.add(family)
            cells[(version, family)][matrix_status(record)] += 1
        anchor = ""
        if record.status == Status.UNSUPPORTED:  # one section per way of refusing, listing its cases
            same = (version, key, record.message.split(":")[0])
            if same not in refusals:
                refusals[same] = _detail(len(failures) + len(refusals) + 1, record, spec, key, Path(page_folder))
            refusals[same].cases.append(case)
            anchor = refusals[same].anchor
        elif record.status != Status.PASS:
            failures.append(_detail(len(failures) + len(refusals) + 1, record, spec, key, Path(page_folder)))
            anchor = failures[-1].anchor
        if anchor:
            anchors[position] = anchor
        row = rows.get((case, key))
        if row is None:
            row = rows[(case, key)] = Row(case, key, spec.describe(), [], [],
                                          [f"case={case}", *(f"{n}={v}" for n, v in families(spec))])
        row.outcomes.append((backend, status, anchor))
        if record.ratio is not None:
            row.ratios.append(record.ratio)
            ratios[(backend, spec.dtype)].append(record.ratio)
        row.tags += [f"{backend}={status}", f"version={version.replace(' ', '=')}"]
    ordered = tuple(sorted(columns, key=lambda c: (FAMILY_ORDER.index(c[0]), c[1])))
    matrix = Matrix(ordered, tuple(
        (version, tuple(
            MatrixCell(tuple((s, cells[(version, col)][s]) for s in MATRIX_COUNTS if cells[(version, col)][s]),
                       f"version={version.replace(' ', '=')} {col[0]}={col[1]}")
            for col in ordered
        ))
        for version in sorted(versions, key=_natural)
    ))
    return Report(
        title=title, sources=tuple(sources), skipped_lines=skipped_lines, cases=len(cases),
        environments=tuple(Environment(k, k, p, n) for k, (p, n) in envs.items()),
        statuses=STATUSES,
        counts=tuple((b, tuple(c[s] for s in STATUSES)) for b, c in sorted(counts.items())),
        matrix=matrix, failures=tuple(failures),
        refusals=tuple(dataclasses.replace(d, cases=tuple(d.cases)) for d in refusals.values()),
        rows=tuple(rows.values()),
        models=model_pages(records, anchors),
        distributions=distributions(ratios),
        comparisons=comparison_pages(list(comparisons)),
    )


def model_pages(records: list[Record], anchors: dict[int, str]) -> tuple[ModelPage, ...]:
    """One page per scanned model and environment: its layers in order with calls and verdicts."""
    grouped: dict[tuple[str, str], dict[int, list]] = {}
    for position, record in enumerate(records):
        if record.model is not None:
            key = (record.model, environment_key(record.environment))
            grouped.setdefault(key, {}).setdefault(record.layer_index, []).append((position, record))
    pages = []
    for number, ((name, env), layers) in enumerate(grouped.items(), 1):
        rows = []
        for index in sorted(layers):
            entries = layers[index]
            first = entries[0][1]
            if first.spec is None:
                rows.append(LayerRow(index, first.layer, first.kind or "", "", (), "-",
                                     f"not checked: {first.message}", (), "unchecked"))
                continue
            outcomes = tuple((r.backend, str(r.status), anchors.get(p, "")) for p, r in entries)
            bad = [f"{r.backend} {r.status}" for _, r in entries if r.status.failing]
            ratios = [r.ratio for _, r in entries if r.ratio is not None]
            calls = tuple((r.backend, r.invocation.standalone()) for _, r in entries
                          if r.invocation and r.invocation.body and r.backend != "numpy")
            rows.append(LayerRow(index, first.layer, first.kind or "", first.conv_spec.describe(), outcomes,
                                 _fmt(max(ratios, default=None)),
                                 f"DISAGREE: {', '.join(bad)}" if bad else "agree", calls,
                                 "disagree" if bad else "agree"))
        pages.append(ModelPage(f"m{number}", name, env, tuple(rows)))
    return tuple(pages)
