"""JSON Lines records: one line per case and backend, flushed as written."""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
from pathlib import Path
from typing import IO, Iterable

from .check import CheckResult, Outcome

# settings that change which kernels run, and so the numbers; reproducers set them again
VARIABLES = ("TF_ENABLE_ONEDNN_OPTS", "XLA_FLAGS")
DISTRIBUTIONS = {"numpy": "numpy", "torch": "torch", "tensorflow": "tensorflow-cpu", "jax": "jax", "jaxlib": "jaxlib"}


def _installed(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        if dist == "tensorflow-cpu":
            return _installed("tensorflow")
        return None


def environment() -> dict:
    """Where the records come from; read from package metadata, importing nothing."""
    versions = {name: _installed(dist) for name, dist in DISTRIBUTIONS.items()}
    return {
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "versions": {k: v for k, v in versions.items() if v},
        "variables": {k: os.environ[k] for k in VARIABLES if k in os.environ},
    }


def outcome_record(case: int, result: CheckResult, outcome: Outcome, env: dict) -> dict:
    return {
        "case": case,
        "spec": result.spec.to_dict(),
        "seed": result.seed,
        "exact": result.exact,
        "backend": outcome.backend,
        "version": outcome.version,
        "status": outcome.status,
        "max_abs_error": outcome.max_abs_error,
        "max_rel_error": outcome.max_rel_error,
        "ratio": outcome.ratio,
        "worst_index": outcome.worst_index,
        "message": outcome.message,
        "call": outcome.call,
        "native": outcome.native,
        "transposed": outcome.transposed,
        "notes": list(outcome.notes),
        "error_map": error_map(outcome),
        "environment": env,
    }


def crash_record(case: int, spec: dict, seed: int, backend: str, env: dict, exact: bool, returncode: int) -> dict:
    """The record of a backend that killed its process (a segfault, an abort)."""
    import signal

    how = (f"signal {signal.Signals(-returncode).name}" if returncode < 0 and -returncode in signal.valid_signals()
           else f"exit status {returncode}")
    return {"case": case, "spec": spec, "seed": seed, "exact": exact, "backend": backend, "version": "",
            "status": "error", "max_abs_error": None, "max_rel_error": None, "ratio": None, "worst_index": None,
            "message": f"crashed: the process running {backend} on this spec died ({how})", "call": "",
            "native": "", "transposed": False, "notes": [], "error_map": None, "environment": env}


def layer_records(model: str, index: int, layer, result: CheckResult | None, env: dict,
                  inputs_file: str | None = None) -> list[dict]:
    """Records of one scanned layer: its outcomes, tagged with the model and layer
    (a layer that is no spec gets one record with ``spec`` None and the reason)."""
    tags = {"model": model, "layer": layer.name, "layer_index": index, "kind": layer.kind}
    if result is None:
        return [{"case": index, "spec": None, "seed": None, "backend": "spec", "status": "unsupported",
                 "message": layer.unsupported, "environment": env, **tags}]
    extra = {**tags, "inputs": inputs_file} if inputs_file else tags
    return [{**outcome_record(index, result, outcome, env), **extra} for outcome in result.outcomes]


MAP_LIMIT = 16384  # output elements; a larger mismatch keeps its numbers but no heat map


def error_map(outcome: Outcome) -> dict | None:
    """|error| and bound per output element (spec layout, 3 significant digits), for a heat map."""
    if outcome.errors is None or outcome.errors.size > MAP_LIMIT:
        return None
    rounded = lambda a: [float(f"{v:.3g}") for v in a.ravel()]  # noqa: E731
    return {"shape": list(outcome.errors.shape), "abs": rounded(outcome.errors), "bound": rounded(outcome.bound)}


class RecordWriter:
    """Appends records to a JSON Lines file, one flushed line each."""

    def __init__(self, path: str | Path | None):
        self.path = None if path is None else Path(path)
        self._file: IO[str] | None = None

    def __enter__(self) -> RecordWriter:
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
        return self

    def write(self, records: Iterable[dict]) -> None:
        if self._file is None:
            return
        for record in records:
            self._file.write(json.dumps(record, allow_nan=True) + "\n")
        self._file.flush()

    def __exit__(self, *exc) -> None:
        if self._file is not None:
            self._file.close()


REQUIRED = {"spec", "seed", "backend", "status"}


def read_records(paths: Iterable[str | Path]) -> tuple[list[dict], int]:
    """All records in ``paths`` and the number of lines that could not be read
    (a sweep interrupted mid-line leaves one truncated line) or are not records."""
    records, skipped = [], 0
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    skipped += 1
                    continue
                if isinstance(record, dict) and REQUIRED <= record.keys():
                    records.append(record)
                else:
                    skipped += 1
    return records, skipped
