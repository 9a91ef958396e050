"""HTML reports from JSON Lines records and comparisons: ``build_report(paths, output)``
loads every file (``loading``), builds what the page shows from it (``model``: the
sweep's, the ports' and the comparisons' sections, each its own module), then renders."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from ..records import Record
from .loading import Loaded, load, load_records, split_comparisons
from .page import Report, build
from .render import render, write


def build_report(paths: Iterable[str | Path], output: str | Path, *,
                 loaded: tuple[list[Record], int] | None = None) -> Report:
    """Read every records file (or take ``loaded``, what ``load_records`` returned), what
    the records point to and every comparison; write one self-contained HTML page;
    return what it shows."""
    sources = load(paths, loaded=loaded)
    report = build(sources.records, sources.paths, sources.skipped, page_folder=Path(output).parent,
                   comparisons=sources.comparisons, inputs=sources.inputs)
    write(report, output)
    return report


__all__ = ["Loaded", "Report", "build", "build_report", "load", "load_records", "split_comparisons", "render",
           "write"]
