"""What the report page shows, built from what was loaded in one step that reads no
file: the summary, the sweep's sections (``sweep_page``), the models (``port_page``)
and the comparisons (``comparison_page``). Rendering is separate (``render.py``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Iterable, Mapping

from ..records import Record, SavedInputs
from ..status import STATUSES
from .comparison_page import ComparisonPage, comparison_pages
from .environments import Environment, environments
from .histogram import Distribution
from .port_page import ModelPage, model_pages
from .sweep_page import Detail, Matrix, Row, checked, counts, details, histograms, rows, version_matrix


@dataclasses.dataclass(frozen=True)
class Report:
    """The whole page."""

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


def build(records: Iterable[Record], sources: tuple[str, ...] = (), skipped_lines: int = 0,
          title: str = "convharness report", page_folder: str | Path = ".", comparisons: Iterable[dict] = (),
          inputs: Mapping[str, SavedInputs] | None = None) -> Report:
    """Everything the page shows, from JSON Lines records, what they point to (``inputs``:
    port layers' saved inputs by the path a record names, read beforehand, see
    ``records.read_pointed``) and comparisons (``compare --json``). Reads no file."""
    records = tuple(records)
    entries = checked(records)
    failures, refusals, anchors = details(entries, inputs or {}, Path(page_folder))
    return Report(
        title=title, sources=tuple(sources), skipped_lines=skipped_lines, cases=len({e.case for e in entries}),
        environments=environments(records), statuses=STATUSES, counts=counts(entries),
        matrix=version_matrix(entries), failures=failures, refusals=refusals, rows=rows(entries, anchors),
        models=model_pages(records, anchors), distributions=histograms(entries),
        comparisons=comparison_pages(comparisons),
    )
