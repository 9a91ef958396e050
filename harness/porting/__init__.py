"""Model scans for porting: capture every convolution of a real model (its
spec, real weights and the activation it received) and check each one in
every backend against the float64 reference.

``scan(model, example)`` takes a PyTorch ``nn.Module``, a Keras 3 model or a
Flax NNX module.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable

import numpy as np

from ..check import CheckResult, Outcome, check
from ..spec import ConvSpec
from ..status import Status
from ..tolerance import compare as compare_to_bound  # not `compare`: harness.porting.compare is a module
from ..tolerance import error_bound
from ..reference import reference


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
        return self.x, self.w, self.b


@dataclasses.dataclass(frozen=True)
class ScannedModel:
    name: str
    framework: str  # "torch", "keras" or "flax"
    layers: tuple[ConvLayer, ...]
    output: np.ndarray | None = dataclasses.field(default=None, repr=False, compare=False)  # the model's, if one array


@dataclasses.dataclass(frozen=True)
class LayerResult:
    layer: ConvLayer
    result: CheckResult | None  # None for a layer that is not a spec

    @property
    def ok(self) -> bool:
        return self.result is None or self.result.ok

    @property
    def worst_ratio(self) -> float | None:
        ratios = [o.ratio for o in self.result.outcomes if o.ratio is not None] if self.result else []
        return max(ratios, default=None)


def scan(model, example=None, *, name: str | None = None, fold_zero_padding: bool = False) -> ScannedModel:
    """Capture every convolution of ``model`` during one forward pass on ``example``.

    With ``fold_zero_padding``, a zero-padding layer that feeds a forward conv
    (Keras ZeroPadding1D/2D/3D, PyTorch ZeroPad*d or ConstantPad*d with value
    0) is folded into that conv's explicit padding, and the conv's input is
    the padding layer's: the computation as a spec, however it is written."""
    framework = framework_of(model)
    if framework == "torch":
        from ..frameworks.torch.scan import scan_torch

        return scan_torch(model, example, name=name, fold_zero_padding=fold_zero_padding)
    if framework == "keras":
        from ..frameworks.keras.scan import scan_keras

        return scan_keras(model, example, name=name, fold_zero_padding=fold_zero_padding)
    if framework == "flax":
        from ..frameworks.flax.scan import scan_flax

        return scan_flax(model, example, name=name)
    raise ValueError(f"model: a {type(model).__name__} is not a torch.nn.Module, a Keras model or a flax.nnx.Module")


def fold_padding(spec: ConvSpec, pads: tuple[tuple[int, int], ...]) -> ConvSpec | None:
    """``spec`` (run on an input zero-padded by ``pads``) as a spec of the unpadded
    input with those pads added to its own; None where that is not the same
    computation (a transposed conv, or a padding mode that would fill the pads)."""
    if spec.transposed or spec.mode_fills:
        return None
    spatial = tuple(n - before - after for n, (before, after) in zip(spec.spatial, pads))
    padding = tuple((b + pb, a + pa) for (b, a), (pb, pa) in zip(spec.explicit_padding, pads))
    return spec.replace(spatial=spatial, padding=padding, padding_mode="zeros")


def framework_of(model) -> str | None:
    """'torch', 'keras' or 'flax', judged by isinstance against frameworks already imported."""
    import sys

    torch, keras, nnx = (sys.modules.get(name) for name in ("torch", "keras", "flax.nnx"))
    if torch is not None and isinstance(model, torch.nn.Module):
        return "torch"
    if keras is not None and isinstance(model, keras.Model):
        return "keras"
    if nnx is not None and isinstance(model, nnx.Module):
        return "flax"
    return None


def model_outcome(layer: ConvLayer, label: str) -> Outcome:
    """The model's own layer output judged like a backend's."""
    expected = reference(layer.spec, *layer.inputs)
    result = compare_to_bound(expected, layer.output, error_bound(layer.spec, *layer.inputs))
    shape = tuple(np.shape(layer.output))
    if not result.shape_ok:
        return Outcome(backend=label, status=Status.SHAPE_MISMATCH, shape=shape,
                       message=f"shape {shape}, expected {expected.shape}")
    return Outcome(backend=label, status=Status.PASS if result.within_bound else Status.MISMATCH,
                   max_abs_error=result.max_abs_error, max_rel_error=result.max_rel_error, ratio=result.ratio,
                   worst_index=result.worst_index, shape=shape)


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


__all__ = ["ConvLayer", "ScannedModel", "LayerResult", "scan", "check_model"]


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
                np.savez_compressed(saved, expected=reference(r.layer.spec, *r.layer.inputs), **arrays)
                inputs_file = saved.relative_to(path.parent).as_posix()
            writer.write(layer_records(scanned.name, index, r.layer, r.result, env, inputs_file))
