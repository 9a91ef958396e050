"""Model scans for porting: capture every convolution of a real model (its
spec, real weights and the activation it received) and check each one in
every backend against the float64 reference.

``scan(model, example)`` takes a model of any framework package with porting
hooks (``MODEL_HOOKS``): a PyTorch ``nn.Module``, a Keras 3 or Keras 2 (``tf_keras``)
model, a Flax NNX module, a callable that runs Flax linen modules, or an ONNX model
(an ``onnx.ModelProto`` or the path of a ``.onnx`` file).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib
import importlib.util
from collections.abc import Mapping
from typing import Iterable

import numpy as np

from ..check import CheckResult, Outcome, check
from ..spec import ConvSpec
from ..tolerance import judge_against_reference
from .hooks import MODEL_HOOKS, OPTIONAL_HOOKS, REQUIRED_HOOKS, ModelKind  # noqa: F401 (the hooks' names, here too)


class CannotRunHere(ValueError):
    """The model's own forward pass needs a kernel this machine's framework lacks."""


class UnsupportedModel(ValueError):
    """The object is no model of a framework package with porting hooks."""


class ModelRaised(Exception):
    """The user's model raised while it ran (not the harness): ``role`` says which model
    ("SOURCE", "TARGET", "model"), ``shape`` the input shape it was given, ``__cause__`` is its own exception."""

    def __init__(self, role: str, shape: tuple | None, error: BaseException) -> None:
        self.role, self.shape, self.error = role, shape, error
        given = "" if shape is None else f" on an input of shape {shape}"
        self.what = f"{type(error).__name__}: {(str(error).strip().splitlines() or [''])[0]}"  # its first line
        super().__init__(f"{type(error).__name__} while running {role}{given}: {self.what.partition(': ')[2]}")

    def own_traceback(self) -> str:
        """The model's exception with only the frames outside the harness (its code and its framework's)."""
        import traceback

        frames = [f for f in traceback.extract_tb(self.error.__traceback__) if not _in_harness(f.filename)]
        return "".join(traceback.format_list(frames) + traceback.format_exception_only(self.error))


@dataclasses.dataclass(frozen=True)
class ConvLayer:
    """One convolution captured from a model's forward pass.

    ``w`` is in the neutral order (out, in/groups, *kernel), for a transposed
    spec (in, out/groups, *kernel); ``output`` is what
    the model's own layer produced (in ``spec.layout``), where it can be taken.
    ``unsupported`` says why a layer could not be expressed as a spec.
    """

    name: str
    kind: str
    spec: ConvSpec | None
    x: np.ndarray | None = dataclasses.field(default=None, repr=False, compare=False)
    w: np.ndarray | None = dataclasses.field(default=None, repr=False, compare=False)
    b: np.ndarray | None = dataclasses.field(default=None, repr=False, compare=False)
    output: np.ndarray | None = dataclasses.field(default=None, repr=False, compare=False)
    unsupported: str = ""

    @property
    def inputs(self) -> tuple:
        """``(x, w, b)``: the captured activation and the weights in the neutral order."""
        return self.x, self.w, self.b


@dataclasses.dataclass(frozen=True)
class ScannedModel:
    """A model's forward pass as scanned: its convolutions in execution order, and its output."""

    name: str
    framework: str  # the framework package's models.NAME: "torch", "keras", "flax"
    layers: tuple[ConvLayer, ...]
    output: np.ndarray | None = dataclasses.field(default=None, repr=False, compare=False)  # the model's, if one array


@dataclasses.dataclass(frozen=True)
class LayerResult:
    """One scanned layer checked in every backend (``result`` None for a layer that is no spec)."""

    layer: ConvLayer
    result: CheckResult | None  # None for a layer that is not a spec

    @property
    def ok(self) -> bool:
        """Whether every backend agreed (a layer that is no spec counts as agreeing: it is listed)."""
        return self.result is None or self.result.ok

    @property
    def worst_ratio(self) -> float | None:
        """The largest error/bound among the backends, or None where none was measured."""
        ratios = [o.ratio for o in self.result.outcomes if o.ratio is not None] if self.result else []
        return max(ratios, default=None)


def scan(model, example=None, *, name: str | None = None, fold_zero_padding: bool = False,
         role: str = "model") -> ScannedModel:
    """Capture every convolution of ``model`` during one forward pass on ``example``
    (a NumPy array or any framework's array, given to the model as it takes it).

    With ``fold_zero_padding``, a zero-padding layer that feeds a forward conv
    (Keras ZeroPadding1D/2D/3D, PyTorch ZeroPad*d or ConstantPad*d with value
    0) is folded into that conv's explicit padding, and the conv's input is
    the padding layer's: the computation as a spec, however it is written.
    An exception the model raises while it runs is re-raised as ``ModelRaised``
    naming ``role``; an object that is no model raises ``UnsupportedModel``."""
    kind = require_kind(model, role)
    if example is not None:
        example = kind.as_input(to_numpy(example))
    with running(role, example):
        return kind.scan(model, example, name=name, fold_zero_padding=fold_zero_padding)


def require_kind(model, role: str = "model") -> ModelKind:
    """The ``models`` hooks of ``model``'s framework; ``UnsupportedModel`` (one line naming the kinds) where none."""
    kind = model_kind(model)
    if kind is None:
        raise UnsupportedModel(f"{role.lower()}: a {type(model).__name__} is not {supported_kinds()}")
    return kind


def _in_harness(filename: str) -> bool:
    from pathlib import Path

    return Path(filename).resolve().is_relative_to(Path(__file__).resolve().parents[1])


@contextlib.contextmanager
def running(role: str, example):
    """Inside: the user's model runs. An exception whose innermost frame is outside the harness
    (the model's code or its framework's) becomes ``ModelRaised``; the harness's own pass through."""
    try:
        yield
    except (CannotRunHere, UnsupportedModel):
        raise
    except Exception as exc:
        tb = exc.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        if tb is None or _in_harness(tb.tb_frame.f_code.co_filename):
            raise
        shape = None if example is None or not hasattr(example, "shape") else tuple(example.shape)
        raise ModelRaised(role, shape, exc) from exc


def to_numpy(value) -> np.ndarray:
    """``value`` (a NumPy array, or any framework's array: a torch tensor, a tf tensor, a jax array) as NumPy."""
    for kind in model_kinds():
        array = kind.to_numpy(value)
        if array is not None:
            return array
    return np.asarray(value)


def flatten(tree, path: tuple = ()) -> list[tuple[tuple, object]]:
    """The leaves of a model's structured output with their paths, in order: a mapping by key,
    a namedtuple or dataclass by field name, a list or tuple by position; anything else is a leaf.
    Written here rather than taken from optree: optree keeps a plain dataclass as one leaf, and the
    harness's core depends on no tree library."""
    if isinstance(tree, Mapping):
        return [leaf for key, value in tree.items() for leaf in flatten(value, (*path, key))]
    if dataclasses.is_dataclass(tree) and not isinstance(tree, type):
        return [leaf for f in dataclasses.fields(tree) for leaf in flatten(getattr(tree, f.name), (*path, f.name))]
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):
        return [leaf for key, value in zip(tree._fields, tree) for leaf in flatten(value, (*path, key))]
    if isinstance(tree, (list, tuple)):
        return [leaf for i, value in enumerate(tree) for leaf in flatten(value, (*path, i))]
    return [(path, tree)]


def fold_padding(spec: ConvSpec, pads: tuple[tuple[int, int], ...]) -> ConvSpec | None:
    """``spec`` (run on an input zero-padded by ``pads``) as a spec of the unpadded
    input with those pads added to its own; None where that is not the same
    computation (a transposed conv, or a padding mode that would fill the pads)."""
    if spec.transposed or spec.mode_fills:
        return None
    spatial = tuple(n - before - after for n, (before, after) in zip(spec.spatial, pads))
    padding = tuple((b + pb, a + pa) for (b, a), (pb, pa) in zip(spec.explicit_padding, pads))
    return spec.replace(spatial=spatial, padding=padding, padding_mode="zeros")


@contextlib.contextmanager
def calls_caught(classes: tuple[type, ...], method: str, record):
    """``record(layer, input, output)`` for every call of ``method`` on an instance of
    ``classes`` inside the block, for frameworks with no hook API (Flax NNX, Keras 2's
    subclassed models): each class that defines the method has it wrapped for the block."""
    owners = {next(c for c in kind.__mro__ if method in c.__dict__) for kind in classes}
    originals = {owner: owner.__dict__[method] for owner in owners}

    def wrapped(original):
        def caught(self, inputs, *args, **kwargs):
            outputs = original(self, inputs, *args, **kwargs)
            if isinstance(self, classes):
                record(self, inputs, outputs)
            return outputs
        return caught

    try:
        for owner, original in originals.items():
            setattr(owner, method, wrapped(original))
        yield
    finally:
        for owner, original in originals.items():
            setattr(owner, method, original)


@functools.cache
def model_kinds() -> tuple[ModelKind, ...]:
    """The ``models`` modules of the framework packages that have one (none imports its framework),
    each with the defaults of the optional hooks it leaves out."""
    from .. import frameworks

    names = (f"{frameworks.__name__}.{package}.models" for package in frameworks.PACKAGES)
    return tuple(ModelKind(importlib.import_module(name)) for name in names
                 if importlib.util.find_spec(name) is not None)


def model_kind(model) -> ModelKind | None:
    """The ``models`` hooks of the framework ``model`` belongs to, or None."""
    return next((kind for kind in model_kinds() if kind.recognises(model)), None)


def supported_kinds() -> str:
    """"a torch.nn.Module, a Keras model or a flax.nnx.Module": the model kinds, for messages."""
    kinds = [kind.KIND for kind in model_kinds()]
    return ", ".join(kinds[:-1]) + " or " + kinds[-1] if len(kinds) > 1 else "".join(kinds)


def model_outcome(layer: ConvLayer, label: str) -> Outcome:
    """The model's own layer output judged like a backend's."""
    judgement = judge_against_reference(layer.spec, *layer.inputs, layer.output)
    return Outcome.judged(label, judgement, np.shape(layer.output), layer.spec.output_shape)


def check_model(scanned: ScannedModel, backends: Iterable[str] | None = None, *, progress=None,
                device="cpu", isolate: bool | None = None) -> list[LayerResult]:
    """Check every captured layer in every backend (on ``device``) with its real weights and
    activation; the model's own output for the layer is judged too (as backend "<framework> model").
    ``isolate`` runs backends in a child process as ``check`` does."""
    backends = None if backends is None else tuple(backends)
    results = []
    for index, layer in enumerate(scanned.layers):
        if progress:
            progress(index, layer)
        if layer.spec is None:
            results.append(LayerResult(layer, None))
            continue
        result = check(layer.spec, seed=0, backends=backends, inputs=layer.inputs, device=device,
                       isolate=isolate)
        if layer.output is not None:
            own = model_outcome(layer, f"{scanned.framework} model")
            result = dataclasses.replace(result, outcomes=(own, *result.outcomes))
        results.append(LayerResult(layer, result))
    return results


def write_records(path, scanned: ScannedModel, results: list[LayerResult]) -> None:
    """Records of a scan for the report; a failing layer's inputs go to an .npz in
    a folder beside the records (``<records>.inputs/``), named relative to them."""
    from pathlib import Path

    from ..records import RecordWriter, environment, layer_records

    env = environment()
    path = Path(path)
    folder = path.with_suffix(".inputs")
    with RecordWriter(path) as writer:
        for index, r in enumerate(results):
            inputs_file = None
            if not r.ok:
                folder.mkdir(parents=True, exist_ok=True)
                saved = folder / f"{scanned.name}-{index}.npz"
                arrays = {k: v for k, v in zip("xwb", r.layer.inputs) if v is not None}
                np.savez_compressed(saved, expected=r.result.expected, **arrays)
                inputs_file = saved.relative_to(path.parent).as_posix()
            writer.write(layer_records(scanned.name, index, r.layer, r.result, env, inputs_file))


__all__ = ["ConvLayer", "ScannedModel", "LayerResult", "scan", "check_model", "UnsupportedModel", "ModelRaised",
           "to_numpy", "flatten", "write_records"]
