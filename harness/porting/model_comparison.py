"""Compare a model with its port: pair their convolutions in execution order
and find the first layer where they part, and why.

Each conv is compared as the computation it performs on the activation its
model gives it (zero-padding layers folded in, 'same' and 'causal' resolved
to pairs, layouts converted). For each pair, in order: the spec fields that
differ; the target's weights against the source's (exactly, or which named
transform maps one onto the other); the input the target layer received
against the source layer's; and the target layer's own output against the
float64 reference of the source layer's spec and weights on the target's
actual input, with ``diagnose`` naming the mistake where it fails.
"""

from __future__ import annotations

import dataclasses
import itertools
import time

import numpy as np

from ..diagnosis import HYPOTHESES, diagnose
from ..layouts import convert_layout, from_channels_first, to_channels_first
from ..spec import transposed_from_dilated_input_padding
from ..tolerance import absolute_error, judge_against_reference, relative_error
from . import (ConvLayer, ScannedModel, flatten, fold_padding, model_kinds, require_kind, running, scan,
               to_numpy)
from .gradient_comparison import GradientVerdict, first_gradient_divergence, gradient_verdicts

AGREE, DIFFERS, INPUT_DIFFERS, UNPAIRED = "agree", "differs", "input_differs", "unpaired"
INHERITED = "inherited"  # the layer is right and its input differs only as an earlier divergence propagated
SPEC_FIELDS = ("kernel", "stride", "padding", "dilation", "groups", "bias", "transposed", "output_padding",
               "padding_mode")
# Two models' activations agree where every element is within this fraction of the source
# activation's largest magnitude: float32 layers upstream leave rounding of order 1e-6 of it;
# a missing activation, a wrong normalisation or a flatten order moves values by far more.
INPUT_TOLERANCE = 1e-3
FIXES = {h.name: h.fix for h in HYPOTHESES}


@dataclasses.dataclass(frozen=True)
class Pair:
    """One source layer and the target layer paired with it (either may be None when unpaired)."""

    source: str | None
    target: str | None
    verdict: str
    spec_differences: tuple[str, ...] = ()
    weights: str = ""  # "": equal; else the transform that maps the source's onto the target's, or "different values"
    mistakes: tuple[str, ...] = ()  # diagnose's names for the target's output, best first
    max_abs_error: float | None = None  # target output against the reference of the source layer
    ratio: float | None = None  # that error over its bound
    input_error: float | None = None  # target input against source input, over the source's largest magnitude
    detail: str = ""  # what differs, in words
    fix: str = ""
    call: str = ""  # where the pair differs: pasteable code computing the source layer in the target's framework
    gradient: GradientVerdict | None = None  # compare --grad: its parameters' gradients of the loss compared

    def to_dict(self) -> dict:
        """The pair as a JSON object (the compare JSON's ``pairs`` entries; ``gradient`` only with one)."""
        return {"source": self.source, "target": self.target, "verdict": self.verdict,
                "spec_differences": list(self.spec_differences), "weights": self.weights,
                "mistakes": list(self.mistakes), "max_abs_error": self.max_abs_error, "ratio": self.ratio,
                "input_error": self.input_error, "detail": self.detail, "fix": self.fix, "call": self.call,
                **({} if self.gradient is None else {"gradient": self.gradient.to_dict()})}


@dataclasses.dataclass(frozen=True)
class ModelComparison:
    """A model against its port: each pair of convolutions with its verdict, and the models' outputs."""

    source: str
    target: str
    pairs: tuple[Pair, ...]
    final_output: dict  # shapes, max_abs_error, max_rel_error of the models' outputs
    target_scan: ScannedModel | None = dataclasses.field(default=None, repr=False, compare=False)
    gradients: bool = False  # the pairs' parameter gradients were compared (compare --grad)

    @property
    def first_divergence(self) -> Pair | None:
        """The first pair that neither agrees nor only inherits an earlier divergence."""
        return next((p for p in self.pairs if p.verdict not in (AGREE, INHERITED)), None)

    @property
    def agree(self) -> bool:
        """Whether no pair diverges (an inherited divergence does not count)."""
        return self.first_divergence is None

    @property
    def first_gradient_divergence(self) -> str | None:
        """The source layer where the gradients first part, from the output backwards (None where all agree)."""
        return first_gradient_divergence(self.pairs)

    def to_dict(self) -> dict:
        """The comparison as the compare JSON object (``first_gradient_divergence`` only with --grad)."""
        first = self.first_divergence
        return {"source": self.source, "target": self.target, "pairs": [p.to_dict() for p in self.pairs],
                "first_divergence": None if first is None else (first.source or first.target),
                "final_output": self.final_output,
                **({"first_gradient_divergence": self.first_gradient_divergence} if self.gradients else {})}


# -- pairing ---------------------------------------------------------------------

def _fits(a: ConvLayer, b: ConvLayer) -> bool:
    sa, sb = a.spec, b.spec
    return (sa.transposed == sb.transposed and sa.rank == sb.rank and sa.in_channels == sb.in_channels
            and sa.out_channels == sb.out_channels and sa.kernel == sb.kernel)


def _unpaired(layer: ConvLayer, side: str) -> Pair:
    if layer.spec is None:
        reason = f"not a spec: {layer.unsupported}"
    else:
        reason = (f"no {'target' if side == 'source' else 'source'} layer of its kind here "
                  f"({layer.spec.describe()})")
    return Pair(layer.name if side == "source" else None, layer.name if side == "target" else None, UNPAIRED,
                detail=reason)


WINDOW = 3  # how far ahead among the target's unpaired layers a source layer looks for its partner


def pair_layers(source: ScannedModel, target: ScannedModel) -> list[tuple[ConvLayer | None, ConvLayer | None]]:
    """The conv layers of both models paired in execution order, checked by kind,
    rank, channels and kernel. Each source layer takes the first fitting target
    layer among the next ``WINDOW`` unpaired ones (parallel branches, such as a
    residual block's skip conv, may run in another order in the port); layers
    left over are unpaired, listed where they stand."""
    pending = [k for k, layer in enumerate(target.layers) if layer.spec is not None]
    placed: list[tuple[float, ConvLayer | None, ConvLayer | None]] = []
    at: dict[int, float] = {}  # target index -> where its pair stands
    for i, s in enumerate(source.layers):
        match = None
        if s.spec is not None:
            match = next((k for k in pending[:WINDOW] if _fits(s, target.layers[k])), None)
        if match is None:
            placed.append((i, s, None))
            continue
        pending.remove(match)
        at[match] = i
        placed.append((i, s, target.layers[match]))
    for k, layer in enumerate(target.layers):
        if k not in at:  # after the pair of the nearest paired target layer before it
            before = max((j for j in at if j < k), default=None)
            placed.append(((-1 if before is None else at[before]) + 0.5 + k * 1e-6, None, layer))
    return [(s, t) for _, s, t in sorted(placed, key=lambda item: item[0])]


# -- one pair ----------------------------------------------------------------------

def resolved(spec, name: str):
    """A spec field as it computes: 'same' and 'causal' as pairs, 'same' output padding included;
    a transposed spec's end crop and output padding netted (a crop of 1 with output_padding 1
    crops nothing), as its dilated input's pads say."""
    if spec.transposed and name in ("padding", "output_padding"):
        crops, extra = transposed_from_dilated_input_padding(spec.kernel, spec.dilation, spec.dilated_input_padding)
        return crops if name == "padding" else extra
    return {"padding": spec.explicit_padding}.get(name, getattr(spec, name))


def spec_differences(source, target) -> tuple[str, ...]:
    """The fields whose resolved values differ."""
    return tuple(name for name in SPEC_FIELDS if resolved(source, name) != resolved(target, name))


def relative_difference(got: np.ndarray, wanted: np.ndarray) -> float:
    """The largest |got - wanted| over the largest |wanted| (1 where that is 0)."""
    wanted = np.asarray(wanted, np.float64)
    scale = float(np.max(np.abs(wanted), initial=0.0)) or 1.0
    return float(np.max(np.abs(np.asarray(got, np.float64) - wanted), initial=0.0)) / scale


def weight_transform(source: ConvLayer, target: ConvLayer) -> str:
    """'' where the target's weights equal the source's; else the diagnose name of a
    transform of the source's that gives the target's, or 'different values'."""
    ws, wt = np.asarray(source.w, np.float64), np.asarray(target.w, np.float64)
    if ws.shape == wt.shape and np.array_equal(ws, wt):
        return ""
    x = np.asarray(source.x)
    for hypothesis in HYPOTHESES:
        for candidate in hypothesis.candidates(source.spec, x, ws, source.b):
            weights_only = candidate.spec == source.spec and candidate.x is x  # a mistake in the weights alone
            if weights_only and candidate.w.shape == wt.shape and np.array_equal(candidate.w, wt):
                return hypothesis.name
    return "different values"


def _padded_by(x: np.ndarray, inner: np.ndarray) -> tuple[tuple[int, int], ...] | None:
    """The zero pads (channels-first arrays) that make ``inner`` into ``x``, where x
    is ``inner`` (within the input tolerance) surrounded by exact zeros, else None.
    A pad written as a function call (F.pad, tf.pad) leaves no layer to fold."""
    if x.shape[:2] != inner.shape[:2] or any(a < b for a, b in zip(x.shape[2:], inner.shape[2:])):
        return None
    for before in itertools.product(*(range(a - b + 1) for a, b in zip(x.shape[2:], inner.shape[2:]))):
        window = (slice(None), slice(None), *(slice(p, p + n) for p, n in zip(before, inner.shape[2:])))
        if relative_difference(x[window], inner) <= INPUT_TOLERANCE:
            border = x.copy()
            border[window] = 0
            if not border.any():
                return tuple((p, a - b - p) for p, a, b in zip(before, x.shape[2:], inner.shape[2:]))
    return None


def _kind_named(framework: str):
    return next((kind for kind in model_kinds() if kind.NAME == framework), None)


def call_backend(framework: str) -> str | None:
    """The backend whose call a ``framework`` user can paste: the layers they use (Keras
    under the backend this process runs it on, Flax), PyTorch's functional call."""
    kind = _kind_named(framework)
    return None if kind is None else kind.paste_backend()


def needed_call(spec, layout: str, framework: str) -> str:
    """Pasteable code computing ``spec`` in ``layout`` with ``framework``'s own call (NumPy x, w, b in, y out);
    "" where that call has no form for it (a Keras transposed layer's crops are its own rule's)."""
    from ..backends import get_backend
    from ..backends.base import NoForm

    try:
        return get_backend(call_backend(framework)).plan(spec.replace(layout=layout)).rendered().standalone()
    except NoForm:
        return ""


def aligned_input(source: ConvLayer, target: ConvLayer, x_target: np.ndarray):
    """``x_target`` (an input of the target layer, in its layout) in the source's layout, with a
    zero pad the target made by a call cropped off and folded into its spec: (the target's spec, the input)."""
    ss, ts = source.spec, target.spec
    x_target = convert_layout(x_target, ts.channels_last, ss.channels_last)
    if x_target.shape != np.shape(source.x):  # a pad the target made by a call: folded like a padding layer
        pads = _padded_by(to_channels_first(x_target, ss.channels_last), to_channels_first(source.x, ss.channels_last))
        folded = None if pads is None else fold_padding(ts, pads)
        if folded is not None:
            window = (slice(None), slice(None), *(slice(b, b + n) for (b, _), n in zip(pads, folded.spatial)))
            ts = folded
            x_target = from_channels_first(to_channels_first(x_target, ss.channels_last)[window], ss.channels_last)
    return ts, x_target


def input_difference(source: ConvLayer, x_target: np.ndarray) -> tuple[float, str]:
    """The target's input (aligned) against the source's: its relative difference (inf for another shape), in words."""
    if x_target.shape != np.shape(source.x):
        return float("inf"), f"input shape {x_target.shape}, the source's {np.shape(source.x)}"
    error = relative_difference(x_target, source.x)
    return error, f"input off by {error:.3g} of its largest magnitude"


def own_fix(framework: str, mistake: str, source_spec, target_spec) -> str:
    """The fix for ``mistake`` (a diagnose name, or a spec field) in the target framework's own terms, or ""."""
    kind = _kind_named(framework)
    return kind.own_fix(mistake, source_spec, target_spec) if kind is not None else ""


def compare_pair(source: ConvLayer, target: ConvLayer, previous: str | None, framework: str = "") -> Pair:
    """One source layer against its partner in the port (in ``framework``): spec, weights, input and
    output, and the verdict; ``previous`` names the source layer before it, for where the models part."""
    ss = source.spec
    names = dict(source=source.name, target=target.name)
    ts, x_target = aligned_input(source, target, target.x)
    differences = spec_differences(ss, ts)
    weights = weight_transform(source, target)
    input_error, input_detail = input_difference(source, x_target)
    max_abs = ratio = None
    mistakes: tuple[str, ...] = ()
    fix = ""
    output_ok = True
    if target.output is not None and input_error != float("inf"):
        observed = convert_layout(target.output, ts.channels_last, ss.channels_last)
        judgement = judge_against_reference(ss, x_target, source.w, source.b, observed)
        max_abs, ratio = judgement.max_abs_error, judgement.ratio
        output_ok = judgement.within_bound
        if not output_ok:
            found = diagnose(ss, x_target, source.w, source.b, observed)
            mistakes = tuple(f.name for f in found.findings)
            if found.findings:
                fix = own_fix(framework, mistakes[0], ss, ts) or found.findings[0].fix
    details = []
    if differences:
        details.append("; ".join(f"{name}: {resolved(ts, name)} where the source has {resolved(ss, name)}"
                                 for name in differences))
    if weights:
        details.append(f"weights: {weights}")
        fix = fix or own_fix(framework, weights, ss, ts) or FIXES.get(weights, "")
    if not output_ok:
        details.append(f"output {ratio:.3g} x the bound of the source layer's computation"
                       + (f" ({', '.join(mistakes)})" if mistakes else ""))
    call = ""
    if differences or weights or not output_ok:
        verdict = DIFFERS
        fix = (fix or next(filter(None, (own_fix(framework, name, ss, ts) for name in differences)), "")
               or "fix: give the target layer the source layer's " + ", ".join(differences or ("weights",)))
        call = needed_call(ss, ts.layout, framework) if call_backend(framework) else ""
    elif input_error > INPUT_TOLERANCE:
        verdict = INPUT_DIFFERS
        where = f"between {previous} and this layer" if previous else "before this layer"
        details.append(f"{input_detail}: the models parted {where}, outside the convolutions")
        fix = BETWEEN_FIX
    else:
        verdict = AGREE
    return Pair(**names, verdict=verdict, spec_differences=differences, weights=weights, mistakes=mistakes,
                max_abs_error=max_abs, ratio=ratio, input_error=input_error, detail="; ".join(details), fix=fix,
                call=call)


BETWEEN_FIX = ("fix: compare what the two models do between these convolutions (an activation, a normalisation, "
               "pooling, the flatten order)")


def inherited(pair: Pair, source: ConvLayer, target: ConvLayer, first: Pair, rerun_input: np.ndarray | None) -> Pair:
    """An ``input_differs`` pair after the first divergence judged on equal footing: where the target's
    stretch before this conv, run on the source's conv outputs (``rerun_input``, what this target conv
    then received), gives the source's input, the difference is inherited from the first divergence;
    where it does not, the stretch itself differs and the pair keeps its between-layers advice.
    Without a rerun (the framework cannot substitute outputs), the difference may be inherited."""
    where = first.source or first.target
    if rerun_input is None:
        return dataclasses.replace(pair, verdict=INHERITED, fix="", detail=(
            f"input off by {pair.input_error:.3g} of its largest magnitude: may be inherited from {where} "
            "(the target's layers before this one could not be rerun on the source's activations)"))
    _, x = aligned_input(source, target, rerun_input)
    error, words = input_difference(source, x)
    if error > INPUT_TOLERANCE:
        return dataclasses.replace(pair, detail=(
            f"{pair.detail}; fed the source's conv outputs, the target's layers before this one still give an "
            f"{words}"))
    return dataclasses.replace(pair, verdict=INHERITED, fix="", detail=(
        f"input off by {pair.input_error:.3g} of its largest magnitude: inherited from {where} (fed the source's "
        f"conv outputs, the target's layers before this one give the source's input within {INPUT_TOLERANCE:g})"))


# -- whole models ----------------------------------------------------------------------

def target_example(source_example: np.ndarray, source_last: bool, target, target_layout: str | None):
    """The source's example in the layout the target model takes: ``target_layout``
    ('channels_first' or 'channels_last'), else inferred by the target's hooks (a Keras
    model's input shape; PyTorch channels-first; Flax channels-last); a ValueError naming
    --target-layout where it cannot be."""
    if target_layout not in (None, "channels_first", "channels_last"):
        raise ValueError(f"target-layout={target_layout!r}: must be channels_first or channels_last")
    kind = require_kind(target, "TARGET")
    if target_layout is None:
        target_last = kind.channels_last(target, source_example, source_last)
        if target_last is None:
            raise ValueError(f"target-layout: the layout a {type(target).__name__} takes cannot be read from it "
                             "(no declared input); pass --target-layout channels_first or channels_last")
    else:
        target_last = target_layout == "channels_last"
    converted = np.ascontiguousarray(convert_layout(source_example, source_last, target_last)) \
        if source_example.ndim >= 3 else source_example
    return kind.as_input(converted), target_last


def compare_models(source, target, example, *, target_layout: str | None = None, source_name: str | None = None,
                   target_name: str | None = None, timings: dict | None = None,
                   grad: bool = False) -> ModelComparison:
    """Compare ``target`` (a port) with ``source`` on ``example`` (the source's input: a NumPy
    array or any framework's array). ``timings``, where given, receives the seconds each step took.
    Raises ``UnsupportedModel`` for an object that is no model, ``ModelRaised`` where a model raises.
    With ``grad``, each pair's parameter gradients of one loss too (``harness.porting.gradient_comparison``)."""
    clock = _Clock(timings)
    require_kind(source, "SOURCE")  # both named before either runs
    require_kind(target, "TARGET")
    source_scan = scan(source, example, name=source_name, fold_zero_padding=True, role="SOURCE")
    clock("scan source")
    first = next((layer.spec for layer in source_scan.layers if layer.spec is not None), None)
    if first is None:
        raise ValueError("source: the model has no convolution to compare")
    source_example = to_numpy(example)
    example_t, target_last = target_example(source_example, first.channels_last, target, target_layout)
    target_scan = scan(target, example_t, name=target_name, fold_zero_padding=True, role="TARGET")
    clock("scan target")
    paired = pair_layers(source_scan, target_scan)
    pairs, previous = [], None
    for s, t in paired:
        if s is None or t is None or s.spec is None or t.spec is None:
            pairs.append(_unpaired(s, "source") if s is not None else _unpaired(t, "target"))
            continue
        pairs.append(compare_pair(s, t, previous, target_scan.framework))
        previous = s.name
    pairs = _after_first_divergence(pairs, paired, target, example_t)
    clock("pairs")
    example_s = require_kind(source).as_input(source_example)
    final = final_outputs(_outputs(source, source_scan, example_s, "SOURCE"),
                          _outputs(target, target_scan, example_t, "TARGET"), first.channels_last, target_last)
    if grad:
        pairs = _with_gradients(pairs, source, target, source_example, source_scan, first.channels_last, target_last)
        clock("gradients")
    return ModelComparison(source_scan.name, target_scan.name, tuple(pairs), final, target_scan, grad)


def _with_gradients(pairs: list[Pair], source, target, source_example: np.ndarray, source_scan: ScannedModel,
                    source_last: bool, target_last: bool) -> list[Pair]:
    """The pairs with their gradient verdicts (compare --grad)."""
    if source_scan.output is None:
        raise ValueError("grad: the source returns more than one array; the loss needs one output")
    example_t = (np.ascontiguousarray(convert_layout(source_example, source_last, target_last))
                 if source_example.ndim >= 3 else source_example)
    specs = {layer.name: layer.spec for layer in source_scan.layers if layer.spec is not None}
    verdicts = gradient_verdicts(pairs, source, target, source_example, example_t, source_scan.output.shape,
                                 source_last, target_last, specs)
    return [dataclasses.replace(pair, gradient=verdicts.get(pair.source)) for pair in pairs]


def _after_first_divergence(pairs: list[Pair], paired, target, example) -> list[Pair]:
    """The ``input_differs`` pairs after the first divergence judged by ``inherited``: the target run
    once more (only where there is such a pair) with each paired conv's output replaced by its source
    partner's, converted to the target's layout."""
    at = next((i for i, p in enumerate(pairs) if p.verdict != AGREE), None)
    if at is None or not any(p.verdict == INPUT_DIFFERS for p in pairs[at + 1:]):
        return pairs
    substitutes = {t.name: convert_layout(s.output, s.spec.channels_last, t.spec.channels_last).astype(t.x.dtype)
                   for s, t in paired if s is not None and t is not None and s.spec is not None
                   and t.spec is not None and s.output is not None}
    with running("TARGET", example):
        rerun = require_kind(target).run_substituted(target, example, substitutes)
    inputs = {} if rerun is None else rerun[0]
    judged = pairs[:at + 1]
    for pair, (s, t) in zip(pairs[at + 1:], paired[at + 1:]):
        if pair.verdict == INPUT_DIFFERS:
            pair = inherited(pair, s, t, pairs[at], None if rerun is None else inputs.get(t.name))
        judged.append(pair)
    return judged


def _outputs(model, scanned: ScannedModel, example, role: str):
    """The model's output: as its scan kept it (one array), else from one more forward pass (structured outputs)."""
    if scanned.output is not None:
        return scanned.output
    kind = require_kind(model, role)
    with running(role, example):
        rerun = kind.run_substituted(model, example, {})
    return None if rerun is None else rerun[1]


class _Clock:
    """Adds the seconds since its last call to ``timings[step]`` (nothing without a dict)."""

    def __init__(self, timings: dict | None) -> None:
        self.timings, self.last = timings, time.perf_counter()

    def __call__(self, step: str) -> None:
        now = time.perf_counter()
        if self.timings is not None:
            self.timings[step] = self.timings.get(step, 0.0) + now - self.last
        self.last = now


def final_output_text(final: dict) -> str:
    """The ``final_output`` of a comparison (its JSON too), in words: one clause per leaf where there are several."""
    leaves = final.get("leaves")
    if leaves is None:  # written before structured outputs: one array, or none
        leaves = [] if final.get("source_shape") is None else [{"leaf": "", **final}]
    if not leaves:
        return "not compared (no output could be read as arrays)"
    return "; ".join((f"{leaf['leaf']}: " if leaf["leaf"] else "") + _leaf_text(leaf) for leaf in leaves)


def _leaf_text(leaf: dict) -> str:
    if leaf.get("source_shape") is None or leaf.get("target_shape") is None:
        return "only in the " + ("target" if leaf.get("source_shape") is None else "source")
    if leaf.get("max_abs_error") is None:
        return f"shapes {tuple(leaf['source_shape'])} and {tuple(leaf['target_shape'])}"
    return f"max abs error {leaf['max_abs_error']:.3g}, max rel error {leaf['max_rel_error']:.3g}"


def _path_text(path: tuple) -> str:
    return "/".join(map(str, path))


def final_outputs(source_output, target_output, source_last: bool, target_last: bool) -> dict:
    """The models' outputs compared leaf by leaf (a mapping, tuple, list, namedtuple or dataclass is
    flattened): paired by path where both have the same paths, else by position; each target leaf of
    rank 3 or more whose shape differs converted from the target's layout to the source's. ``leaves``
    lists each pair; ``max_abs_error`` and ``max_rel_error`` are the largest over them (None where a
    pair could not be compared), ``source_shape`` and ``target_shape`` those of a single array."""
    ys = [] if source_output is None else [(p, to_numpy(v)) for p, v in flatten(source_output)]
    yt = [] if target_output is None else [(p, to_numpy(v)) for p, v in flatten(target_output)]
    if sorted(repr(p) for p, _ in ys) == sorted(repr(p) for p, _ in yt):  # the same keys: paired by key
        by_path = dict(yt)
        pairs = [((p, v), (p, by_path[p])) for p, v in ys]
    else:
        pairs = list(itertools.zip_longest(ys, yt))
    leaves = [_final_leaf(s, t, source_last, target_last) for s, t in pairs]
    single = len(leaves) == 1 and leaves[0]["leaf"] == ""
    errors = [leaf["max_abs_error"] for leaf in leaves]
    compared = bool(leaves) and None not in errors
    return {"source_shape": leaves[0]["source_shape"] if single else None,
            "target_shape": leaves[0]["target_shape"] if single else None,
            "max_abs_error": max(errors) if compared else None,
            "max_rel_error": max(leaf["max_rel_error"] for leaf in leaves) if compared else None,
            "leaves": leaves}


def _final_leaf(source, target, source_last: bool, target_last: bool) -> dict:
    """One leaf of the outputs against its partner (either may be None: only one model has it)."""
    name = _path_text((source or target)[0])
    if source is not None and target is not None and source[0] != target[0]:
        name = f"{_path_text(source[0])} ~ {_path_text(target[0])}"
    ys = None if source is None else np.asarray(source[1])
    yt = None if target is None else np.asarray(target[1])
    leaf = {"leaf": name, "source_shape": None if ys is None else list(ys.shape),
            "target_shape": None if yt is None else list(yt.shape), "max_abs_error": None, "max_rel_error": None}
    if ys is None or yt is None:
        return leaf
    if yt.ndim >= 3 and yt.shape != ys.shape and convert_layout(yt, target_last, source_last).shape == ys.shape:
        yt = convert_layout(yt, target_last, source_last)
        leaf["target_shape"] = list(yt.shape)
    if ys.shape != yt.shape:
        return leaf
    ys, yt = ys.astype(np.float64), yt.astype(np.float64)
    error = absolute_error(ys, yt)
    relative = relative_error(ys, error)
    return {**leaf, "max_abs_error": float(error.max(initial=0.0)), "max_rel_error": float(relative.max(initial=0.0))}


__all__ = ["compare_models", "ModelComparison", "Pair", "pair_layers", "AGREE", "DIFFERS", "INPUT_DIFFERS",
           "INHERITED", "UNPAIRED"]
