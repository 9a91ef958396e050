"""JSON Lines records: one ``Record`` per case and backend, a line each, flushed as written;
read back with what they point to (a port layer's saved inputs)."""

from __future__ import annotations

import base64
import dataclasses
import importlib.metadata
import json
import os
import platform
from pathlib import Path
from typing import IO, Iterable

import numpy as np

from . import devices, frameworks
from .calls import Rendered
from .check import CheckResult, Outcome
from .inputs import load_inputs
from .spec import ConvSpec
from .status import Status


def _installed(dists: tuple[str, ...]) -> str | None:
    """The version of the first of ``dists`` installed, from its metadata."""
    for dist in dists:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def environment(device: devices.Device = devices.CPU) -> dict:
    """Where the records come from: versions read from package metadata (importing
    nothing), the settings that choose kernels, the CPU (its model and the
    instruction sets oneDNN picks kernels by), and the CUDA device asked for; what each
    framework package declares (``harness.frameworks``: ``DISTRIBUTIONS``, ``VARIABLES``)."""
    versions = {name: _installed(dists) for name, dists in frameworks.distributions().items()}
    return {
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "versions": {k: v for k, v in versions.items() if v},
        "variables": {k: os.environ[k] for k in frameworks.variables() if k in os.environ},
        "cpu": devices.cpu(),
        **({"device": str(device), "gpu": devices.describe(device)} if device.accelerator else {}),
    }


MAP_LIMIT = 16384  # output elements; a larger failure keeps its numbers but no heat map and no reference


def _encode(array: np.ndarray | None) -> dict | None:
    """A float64 array, bit for bit, as JSON: its shape and its bytes in base64."""
    if array is None or array.size > MAP_LIMIT:
        return None
    data = np.ascontiguousarray(array, dtype="<f8")
    return {"shape": list(data.shape), "float64": base64.b64encode(data.tobytes()).decode("ascii")}


def decode_array(data: dict) -> np.ndarray:
    """The float64 array a record keeps in ``expected``, from its shape and base64 bytes."""
    return np.frombuffer(base64.b64decode(data["float64"]), dtype="<f8").reshape(data["shape"])


def error_map(outcome: Outcome) -> dict | None:
    """|error| and bound per output element (spec layout, 3 significant digits), for a heat map."""
    if outcome.errors is None or outcome.errors.size > MAP_LIMIT:
        return None
    rounded = lambda a: [float(f"{v:.3g}") for v in a.ravel()]  # noqa: E731
    return {"shape": list(outcome.errors.shape), "abs": rounded(outcome.errors), "bound": rounded(outcome.bound)}


@dataclasses.dataclass(frozen=True)
class Record:
    """One line of a records file: one case in one backend, or one layer of a scanned
    model that is no spec (``spec`` None, ``backend`` "spec", the reason as message)."""

    case: int
    spec: dict | None
    seed: int | None
    backend: str
    status: Status
    exact: bool = False
    version: str = ""
    max_abs_error: float | None = None
    max_rel_error: float | None = None
    ratio: float | None = None
    worst_index: tuple[int, ...] | None = None
    message: str = ""
    invocation: Rendered | None = None  # the call as it ran
    error_map: dict | None = None  # |error| and bound per element, for a failure's heat map
    expected: dict | None = None  # the float64 reference of a failure, for its reproducer
    environment: dict = dataclasses.field(default_factory=dict)
    model: str | None = None  # a scanned model's layer: the model, the layer, its index and kind
    layer: str | None = None
    layer_index: int | None = None
    kind: str | None = None
    inputs: str | None = None  # the .npz of a failing layer's inputs, relative to the records file
    device: str = "cpu"
    precision: str = ""  # what the products were computed in, where not the spec's dtype ("tf32")
    quantity: str = "y"  # the output y, or the gradient dx, dw or db at make_cotangent(spec, seed)

    def __post_init__(self):
        object.__setattr__(self, "status", Status(self.status))
        if self.worst_index is not None:
            object.__setattr__(self, "worst_index", tuple(self.worst_index))

    @classmethod
    def of(cls, case: int, result: CheckResult, outcome: Outcome, env: dict, **tags) -> Record:
        """The record of one backend's ``outcome`` of a checked ``result``, with the environment and tags."""
        return cls(case=case, spec=result.spec.to_dict(), seed=result.seed, backend=outcome.backend,
                   status=outcome.status, exact=result.exact, version=outcome.version,
                   max_abs_error=outcome.max_abs_error, max_rel_error=outcome.max_rel_error, ratio=outcome.ratio,
                   worst_index=outcome.worst_index, message=outcome.message, invocation=outcome.invocation,
                   error_map=error_map(outcome), expected=_encode(outcome.expected), environment=env,
                   device=outcome.device, precision=outcome.precision, quantity=outcome.quantity, **tags)

    @property
    def conv_spec(self) -> ConvSpec | None:
        """The record's spec as a ``ConvSpec``, or None for a layer that is no spec."""
        return None if self.spec is None else ConvSpec.from_dict(self.spec)

    def to_dict(self) -> dict:
        """The record as one JSON object: optional keys left out where they say nothing."""
        data = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        data["status"] = self.status.value
        data["worst_index"] = None if self.worst_index is None else list(self.worst_index)
        data["invocation"] = None if self.invocation is None else self.invocation.to_dict()
        for name in ("model", "layer", "layer_index", "kind", "inputs", "expected"):
            if data[name] is None:
                del data[name]
        for name, default in (("device", "cpu"), ("precision", ""), ("quantity", "y")):  # kept where they say something
            if data[name] == default:
                del data[name]
        # the call's code and convolution line, for whoever reads the JSON rather than this type
        data["call"], data["native"] = (self.invocation.code, self.invocation.native) if self.invocation else ("", "")
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Record:
        """A record from its JSON object; KeyError for a missing required key, ValueError for a bad status."""
        known = {field.name for field in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if values.get("invocation") is not None:
            values["invocation"] = Rendered.from_dict(values["invocation"])
        for name in REQUIRED:
            values[name] = data[name]
        return cls(**values)


def layer_records(model: str, index: int, layer, result: CheckResult | None, env: dict,
                  inputs_file: str | None = None) -> list[Record]:
    """Records of one scanned layer: its outcomes, tagged with the model and layer
    (a layer that is no spec gets one record with ``spec`` None and the reason)."""
    tags = dict(model=model, layer=layer.name, layer_index=index, kind=layer.kind)
    if result is None:
        return [Record(case=index, spec=None, seed=None, backend="spec", status=Status.UNSUPPORTED,
                       message=layer.unsupported, environment=env, **tags)]
    return [Record.of(index, result, outcome, env, inputs=inputs_file, **tags) for outcome in result.outcomes]


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

    def write(self, records: Iterable[Record]) -> None:
        """Append ``records``, one JSON line each, and flush (nothing where no path was given)."""
        if self._file is None:
            return
        for record in records:
            self._file.write(json.dumps(record.to_dict(), allow_nan=True) + "\n")
        self._file.flush()

    def __exit__(self, *exc) -> None:
        if self._file is not None:
            self._file.close()


REQUIRED = ("case", "spec", "seed", "backend", "status")


def read_records(paths: Iterable[str | Path]) -> tuple[list[Record], int]:
    """All records in ``paths`` and the number of lines that could not be read
    (a sweep interrupted mid-line leaves one truncated line) or are not records."""
    records, skipped = [], 0
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    continue
                try:
                    records.append(Record.from_dict(json.loads(line)))
                except (json.JSONDecodeError, TypeError, KeyError, ValueError, AttributeError):
                    skipped += 1
    return records, skipped


@dataclasses.dataclass(frozen=True)
class SavedInputs:
    """What a port layer's record points to (``Record.inputs``), read from its .npz: the
    inputs x, w, b and, where port saved it beside them, the float64 reference; or why
    the file could not be read (``error``, the arrays None)."""

    arrays: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None = None
    expected: np.ndarray | None = None
    error: str = ""

    @property
    def nbytes(self) -> int:
        """The inputs' size in bytes."""
        return sum(a.nbytes for a in self.arrays if a is not None)


def read_saved_inputs(path: str | Path) -> SavedInputs:
    """The .npz a record names, read whole; a missing or unreadable file gives its reason, not an error."""
    try:
        arrays = load_inputs(path)
        with np.load(path) as data:
            expected = data["expected"] if "expected" in data.files else None
    except (ValueError, OSError) as exc:  # a moved inputs file: its reproducer says so
        return SavedInputs(error=str(exc))
    return SavedInputs(arrays, expected)


def read_pointed(records: Iterable[Record]) -> dict[str, SavedInputs]:
    """What the records point to, each file read once: their saved inputs, by the path they name."""
    return {path: read_saved_inputs(path) for path in dict.fromkeys(r.inputs for r in records if r.inputs)}
