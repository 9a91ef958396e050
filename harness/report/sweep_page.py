"""The sweep's sections of the page, from the records that hold a spec: counts per
backend, the version matrix, one detail per failure and per kind of refusal (with its
reproducer), and one filterable row per case and environment. Each is built in one
pass over the records, as frozen values."""

from __future__ import annotations

import collections
import dataclasses
from pathlib import Path
from typing import Iterable, Mapping

from ..records import Record, SavedInputs
from ..reproducer import record_reproducer
from ..spec import ConvSpec
from ..status import STATUSES, Status
from .environments import environment_key
from .heatmap import HeatMap, heat_map
from .hints import error_map_hint
from .histogram import Distribution, distributions
from .text import figures, natural


@dataclasses.dataclass(frozen=True)
class Checked:
    """A record that holds a spec, named as the page names it."""

    position: int  # among the records
    record: Record
    spec: ConvSpec
    case: str  # "c1", "c2"...: its spec and seed, numbered by first appearance
    environment: str  # its environment's label
    version: str  # its backend, version and (off the CPU) device: a row of the version matrix
    backend: str  # its backend and (off the CPU) device: a row of the summary, a GPU's apart from the CPU's


def shown(record: Record) -> str:
    """The backend as the page names an outcome: with the gradient it judged (``torch dw``),
    so that gradients have their own rows, counts and histograms beside the output's."""
    return record.backend if record.quantity == "y" else f"{record.backend} {record.quantity}"


def checked(records: Iterable[Record]) -> tuple[Checked, ...]:
    """The records that hold a spec (a model layer that is none is shown on its model's page), named."""
    cases: dict[tuple[str, int | None], str] = {}
    named = []
    for position, record in enumerate(records):
        if record.spec is None:
            continue
        spec = record.conv_spec
        case = cases.setdefault((spec.to_json(), record.seed), f"c{len(cases) + 1}")
        where = "" if record.device == "cpu" else f" on {record.device}"  # a GPU's results are not the CPU's
        name, of = record.backend, "" if record.quantity == "y" else f" {record.quantity}"
        named.append(Checked(position, record, spec, case, environment_key(record.environment),
                             f"{name} {record.version}".strip() + of + where, shown(record) + where))
    return tuple(named)


def counts(entries: Iterable[Checked]) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """Per backend (and device), how many outcomes have each of ``STATUSES``."""
    tally: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for entry in entries:
        tally[entry.backend][str(entry.record.status)] += 1
    return tuple((backend, tuple(c[s] for s in STATUSES)) for backend, c in sorted(tally.items()))


def histograms(entries: Iterable[Checked]) -> tuple[Distribution, ...]:
    """How close to the bound each backend's results run, per dtype."""
    return distributions((shown(e.record), e.spec.dtype, e.record.ratio)
                         for e in entries if e.record.ratio is not None)


# A matrix cell counts an error whose backend killed its process apart, as "crashed":
# which framework versions still crash on a declared crash's example shows at a glance.
CRASHED = "crashed"
MATRIX_COUNTS = (*STATUSES, CRASHED)
FAMILY_ORDER = ("rank", "kind", "layout", "padding", "padding mode", "groups", "dilation", "dtype")


def matrix_status(record: Record) -> str:
    """The status a matrix cell counts the record under: its own, or "crashed"."""
    return CRASHED if record.status == Status.ERROR and record.message.startswith("crashed:") else str(record.status)


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


@dataclasses.dataclass(frozen=True)
class MatrixCell:
    """The outcomes of one framework version in one case family."""

    counts: tuple[tuple[str, int], ...]  # (status, count), non-zero only
    filter: str

    @property
    def worst(self) -> str:
        """The status the cell is coloured by: the worst it counts (a crash as an error), or "empty"."""
        for status in (CRASHED, Status.ERROR, Status.SHAPE_MISMATCH, Status.MISMATCH, Status.UNSUPPORTED, Status.PASS):
            if any(s == status for s, _ in self.counts):
                return Status.ERROR if status == CRASHED else status
        return "empty"


@dataclasses.dataclass(frozen=True)
class Matrix:
    """Framework versions against case families."""

    columns: tuple[tuple[str, str], ...]  # (family, value)
    rows: tuple[tuple[str, tuple[MatrixCell, ...]], ...]  # (framework version, cells)


def version_matrix(entries: Iterable[Checked]) -> Matrix:
    """Each framework version's outcomes counted per case family, versions in natural order."""
    cells: dict[tuple[str, tuple[str, str]], collections.Counter] = collections.defaultdict(collections.Counter)
    for entry in entries:
        for family in families(entry.spec):
            cells[(entry.version, family)][matrix_status(entry.record)] += 1
    columns = tuple(sorted({family for _, family in cells}, key=lambda c: (FAMILY_ORDER.index(c[0]), c[1])))
    versions = sorted(dict.fromkeys(version for version, _ in cells), key=natural)
    empty = collections.Counter()
    return Matrix(columns, tuple(
        (version, tuple(_cell(version, column, cells.get((version, column), empty)) for column in columns))
        for version in versions
    ))


def _cell(version: str, column: tuple[str, str], counted: collections.Counter) -> MatrixCell:
    return MatrixCell(tuple((s, counted[s]) for s in MATRIX_COUNTS if counted[s]),
                      f"version={version.replace(' ', '=')} {column[0]}={column[1]}")


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
    seed: int | None
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
    map_over: str = "output position"  # what a heat map's cell is: a gradient's element


def details(entries: Iterable[Checked], inputs: Mapping[str, SavedInputs], folder: Path
            ) -> tuple[tuple[Detail, ...], tuple[Detail, ...], dict[int, str]]:
    """The failures, the kinds of refusal (one detail per version, environment and
    reason, listing its cases) and, for each record shown, the anchor of its detail.
    ``inputs`` holds what port layers' records point to, read beforehand; a reproducer
    that loads a file names it relative to ``folder``, the page's."""
    groups: dict[tuple, list[Checked]] = {}  # a detail's records, the first shown: a failure's one, a refusal's all
    for entry in entries:
        if entry.record.status == Status.UNSUPPORTED:
            key = ("refused", entry.version, entry.environment, entry.record.message.split(":")[0])
        elif entry.record.status != Status.PASS:
            key = ("failed", entry.position)
        else:
            continue
        groups.setdefault(key, []).append(entry)
    made = tuple(_detail(number, group, inputs.get(group[0].record.inputs), folder)
                 for number, group in enumerate(groups.values(), 1))
    anchors = {entry.position: detail.anchor for detail, group in zip(made, groups.values()) for entry in group}
    return (tuple(d for d in made if d.status != Status.UNSUPPORTED),
            tuple(d for d in made if d.status == Status.UNSUPPORTED), anchors)


def _detail(number: int, group: list[Checked], saved: SavedInputs | None, folder: Path) -> Detail:
    entry = group[0]
    record, spec = entry.record, entry.spec
    script, inputs = record_reproducer(record, saved, folder)
    call = record.invocation
    of = "" if record.quantity == "y" else f" (gradient {record.quantity})"
    return Detail(
        anchor=f"d{number}", title=f"{record.backend} {record.version}{of}: {record.status}",
        status=str(record.status), backend=shown(record), version=record.version, environment=entry.environment,
        spec=spec.describe(), spec_json=spec.to_json(), seed=record.seed, exact=record.exact,
        input_shape=str(spec.input_shape), output_shape=str(spec.output_shape),
        numbers=(("max abs error", figures(record.max_abs_error)),
                 ("max rel error", figures(record.max_rel_error)), ("error / bound", figures(record.ratio)),
                 ("worst index", str(record.worst_index) if record.worst_index else "-")),
        pattern=error_map_hint(record.error_map, spec, record.ratio) if record.error_map and record.quantity in (
            "y", "dx") else "",  # dw's and db's elements are no output positions: no border to speak of
        heat_map=quantity_heat_map(record, spec),
        call=call.code if call else "", notes=call.notes if call else (), message=record.message,
        reproducer=script, reproducer_name=f"reproduce_{number}_{record.backend.replace('.', '_')}.py",
        cases=tuple(e.case for e in group) if record.status == Status.UNSUPPORTED else (),
        where=f"model {record.model}, layer {record.layer} (#{record.layer_index})" if record.model else "",
        inputs=inputs, map_over=MAP_OVER[record.quantity],
    )


MAP_OVER = {"y": "output position", "dx": "input position (dx)", "dw": "kernel tap (dw, per out and in channel)",
            "db": "output channel (db)"}


def quantity_heat_map(record: Record, spec: ConvSpec) -> HeatMap | None:
    """A failure's heat map: y and dx over positions in the spec's layout, dw over the
    kernel taps per (out, in/groups) channel pair (the neutral weight order); db, one
    number per channel, has none beyond its worst index."""
    if not record.error_map or record.quantity == "db":
        return None
    if record.quantity == "dw":
        return heat_map(record.error_map, "OI" + "DHW"[-spec.rank:], ("o", "i", *("kd", "kh", "kw")[-spec.rank:]))
    return heat_map(record.error_map, spec.layout)


@dataclasses.dataclass(frozen=True)
class Row:
    """One case in one environment, in the filterable table of outcomes."""

    case: str
    environment: str
    spec: str
    outcomes: tuple[tuple[str, str, str], ...]  # (backend, status, anchor of its detail or "")
    ratios: tuple[float, ...]
    tags: tuple[str, ...]  # what the filter searches: key=value words

    @property
    def worst(self) -> str:
        """The largest error/bound of the row's outcomes, as the table shows it."""
        return figures(max(self.ratios, default=None))

    @property
    def search(self) -> str:
        """The words the table's filter matches."""
        return " ".join(self.tags)


def rows(entries: Iterable[Checked], anchors: Mapping[int, str]) -> tuple[Row, ...]:
    """One row per case and environment, in order of first appearance."""
    grouped: dict[tuple[str, str], list[Checked]] = {}
    for entry in entries:
        grouped.setdefault((entry.case, entry.environment), []).append(entry)
    return tuple(_row(group, anchors) for group in grouped.values())


def _row(group: list[Checked], anchors: Mapping[int, str]) -> Row:
    head = group[0]
    return Row(
        head.case, head.environment, head.spec.describe(),
        outcomes=tuple((shown(e.record), str(e.record.status), anchors.get(e.position, "")) for e in group),
        ratios=tuple(e.record.ratio for e in group if e.record.ratio is not None),
        tags=(f"case={head.case}", *(f"{name}={value}" for name, value in families(head.spec)),
              *(tag for e in group
                for tag in (f"{shown(e.record).replace(' ', '.')}={e.record.status}",
                            f"version={e.version.replace(' ', '=')}"))),
    )
