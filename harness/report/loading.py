"""Everything a report shows, read from disk in one step before any of the page is
built: the records files, the port layers' inputs they point to, and the comparisons."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Iterable, Mapping

from ..records import Record, SavedInputs, read_pointed, read_records


@dataclasses.dataclass(frozen=True)
class Loaded:
    """What the page is built from: every file it names, read."""

    paths: tuple[str, ...]  # as given: records files and comparisons
    records: tuple[Record, ...]
    skipped: int  # lines of the records files that are no record
    inputs: Mapping[str, SavedInputs]  # what the records point to, by the path a record names
    comparisons: tuple[dict, ...]


def load_records(paths: Iterable[str | Path]) -> tuple[list[Record], int]:
    """Every record of ``paths`` and the count of lines that are none; ValueError
    where a file is missing or no file holds a single record."""
    paths = [str(p) for p in paths]
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        raise ValueError(f"records: no such file: {', '.join(missing)}")
    records, skipped = [], 0
    for path in paths:
        found, unreadable = read_records([path])
        records += [  # a port layer's inputs are named relative to their records file
            dataclasses.replace(r, inputs=str(Path(path).parent / r.inputs)) if r.inputs else r for r in found
        ]
        skipped += unreadable
    if not records:
        raise ValueError(f"records: not one record in {', '.join(paths)} ({skipped} lines that are not records); "
                         "give the JSON Lines files that sweep, check or port write with --records")
    return records, skipped


def split_comparisons(paths: Iterable[str | Path]) -> tuple[list[dict], list[str]]:
    """The comparisons among ``paths`` (files that ``compare --json`` wrote: one JSON
    object with its pairs) and the other paths, records files."""
    comparisons, others = [], []
    for path in map(str, paths):
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = None
        if isinstance(data, dict) and "pairs" in data and "first_divergence" in data:
            comparisons.append(data)
        else:
            others.append(path)
    return comparisons, others


def load(paths: Iterable[str | Path], *, loaded: tuple[list[Record], int] | None = None) -> Loaded:
    """Read every comparison and records file among ``paths`` (or take the records from
    ``loaded``, what ``load_records`` returned) and what the records point to."""
    paths = tuple(map(str, paths))
    comparisons, record_paths = split_comparisons(paths)
    if loaded is None:
        loaded = load_records(record_paths) if record_paths or not comparisons else ([], 0)
    records, skipped = loaded
    return Loaded(paths, tuple(records), skipped, read_pointed(records), tuple(comparisons))
