"""Name the porting mistake: given a spec, its inputs and what a user's port
produced, test named hypotheses against the float64 reference and list the
ones that reproduce the observed result within the bound, best first.

Each hypothesis builds what the port would compute with that mistake: the
reference run on a changed spec or changed inputs, then an optional change of
the output. An observed result of the wrong shape is diagnosed too (a
transposed conv without its output_padding is one position short): only the
hypotheses that give that shape can reproduce it. Its bound is the error bound of that changed computation (zero
when the data are small integers, so a match is exact). The names are a
stable vocabulary, documented in docs/porting.md.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Iterator

import numpy as np

from .inputs import holds_exactly, validate_inputs
from .layouts import (
    channels_first_layout,
    channels_last_layout,
    convert_layout,
    from_channels_first,
    to_channels_first,
    to_channels_first_axes,
    to_channels_last_axes,
    weight_from_spatial_first_axes,
    weight_to_spatial_first_axes,
)
from .reference import reference
from .spec import ConvSpec, same_padding
from .tolerance import error_bound, judge, where_errors_sit

NO_MISTAKE = "no mistake found"


def _unchanged(y: np.ndarray) -> np.ndarray:
    return y


@dataclasses.dataclass(frozen=True)
class Candidate:
    """What the port computes under one variant of a mistake."""

    detail: str  # which variant
    spec: ConvSpec
    x: np.ndarray
    w: np.ndarray
    b: np.ndarray | None
    after: Callable[[np.ndarray], np.ndarray] = _unchanged  # applied to the output


@dataclasses.dataclass(frozen=True)
class Hypothesis:
    """A named porting mistake: the results a port with it may compute (``candidates``) and its fix."""

    name: str
    candidates: Callable[[ConvSpec, np.ndarray, np.ndarray, np.ndarray | None], Iterator[Candidate]]
    fix: str


@dataclasses.dataclass(frozen=True)
class Finding:
    """A mistake that reproduces the observed result, with how closely (``ratio``)."""

    name: str
    detail: str
    fix: str
    ratio: float  # worst |observed - candidate| / bound; <= 1 reproduces


@dataclasses.dataclass(frozen=True)
class Diagnosis:
    """What ``diagnose`` found: the mistakes that reproduce the observed result, best first."""

    findings: tuple[Finding, ...]  # the hypotheses that reproduce ``observed``, best first
    correct: bool  # observed already agrees with the reference
    exact: bool  # integer data: matches are exact, not within a tolerance
    ratio: float  # observed against the reference
    max_abs_error: float
    where: str  # where observed differs from the reference: border, everywhere, scattered, or in the shape

    @property
    def best(self) -> str:
        """The name of the best explanation: the first finding, "unexplained", or no mistake."""
        if self.correct:
            return NO_MISTAKE
        return self.findings[0].name if self.findings else "unexplained"

    def text(self) -> str:
        """The diagnosis in words, one finding a line, each with its fix."""
        kind = "exactly (integer data)" if self.exact else "within the error bound"
        if self.correct:
            return f"{NO_MISTAKE}: the observed result equals the reference {kind} (error/bound {self.ratio:.3g})"
        if not self.findings:
            return (f"no named mistake reproduces the observed result (max abs error {self.max_abs_error:.3g}, "
                    f"error/bound {self.ratio:.3g} against the reference); the errors sit {self.where}")
        lines = [f"the observed result is reproduced {kind} by:"]
        lines += [f"  {i}. {f.name} ({f.detail}): {f.fix}" for i, f in enumerate(self.findings, 1)]
        return "\n".join(lines)


# -- the hypotheses ----------------------------------------------------------

def _reversed_kernel(spec, x, w, b):
    yield Candidate("kernel reversed along every spatial axis", spec, x,
                    np.flip(w, axis=tuple(range(2, w.ndim))).copy(), b)


def _flipped_kernel(spec, x, w, b):
    if not spec.transposed:
        yield from _reversed_kernel(spec, x, w, b)


def _transposed_kernel_not_flipped(spec, x, w, b):
    if spec.transposed:
        yield from _reversed_kernel(spec, x, w, b)


def _weight_layout(spec, x, w, b):
    r = spec.rank
    kernel, first, second = tuple(spec.kernel), w.shape[0], w.shape[1]
    # PyTorch's (O, I, *k) array (ConvTranspose: (I, O, *k)) reshaped, not transposed, to TensorFlow's (*k, I, O)
    order = "(in, out, *k) reshaped to (*k, out, in)" if spec.transposed else "(out, in, *k) reshaped to (*k, in, out)"
    as_tf = w.reshape(*kernel, second, first)
    yield Candidate(f"{order} instead of transposed", spec, x,
                    np.ascontiguousarray(np.transpose(as_tf, weight_from_spatial_first_axes(r))), b)
    # a TensorFlow (*k, I, O) array reshaped to PyTorch's (O, I, *k)
    tf_order = np.transpose(w, weight_to_spatial_first_axes(r))
    back = "(*k, out, in) reshaped to (in, out, *k)" if spec.transposed else "(*k, in, out) reshaped to (out, in, *k)"
    yield Candidate(f"{back} instead of transposed", spec, x, np.ascontiguousarray(tf_order).reshape(w.shape), b)
    if first == second:
        yield Candidate("in and out channels swapped", spec, x, np.swapaxes(w, 0, 1).copy(), b)


def _input_layout(spec, x, w, b):
    # the user's data is in the other channel order; it (or the output) was reshaped instead of transposed
    other, mine = ("channels-first", "channels-last") if spec.channels_last else ("channels-last", "channels-first")
    axes = (to_channels_first_axes if spec.channels_last else to_channels_last_axes)(spec.rank)
    reshaped = lambda a: np.ascontiguousarray(np.transpose(a, axes)).reshape(a.shape)  # noqa: E731
    yield Candidate(f"{other} data reshaped to {mine} instead of transposed", spec, reshaped(x), w, b)
    yield Candidate(f"the {other} output reshaped to {mine} instead of transposed", spec, x, w, b, reshaped)
    # the data are in the spec's layout, but reshaped to the other one for a call that takes that
    # (the output transposed back correctly)
    called = spec.replace(layout=(channels_first_layout if spec.channels_last else channels_last_layout)(spec.layout))
    yield Candidate(f"{mine} data reshaped to {other} for the call instead of transposed", called,
                    np.ascontiguousarray(x).reshape(called.input_shape), w, b,
                    lambda y: convert_layout(y, called.channels_last, spec.channels_last))


def _spatial_axes_swapped(spec, x, w, b):
    if spec.rank < 2:
        return
    for i in range(spec.rank):
        for j in range(i + 1, spec.rank):
            names = "DHW"[3 - spec.rank:]
            pair = f"{names[i]} and {names[j]}"
            if spec.kernel[i] == spec.kernel[j]:
                yield Candidate(f"kernel axes {pair} exchanged", spec, x, np.swapaxes(w, 2 + i, 2 + j).copy(), b)

            def swap(t, i=i, j=j):
                return tuple(t[j] if k == i else t[i] if k == j else v for k, v in enumerate(t))

            swapped = _maybe(spec.replace, spatial=swap(spec.spatial), kernel=swap(spec.kernel),
                             stride=swap(spec.stride), dilation=swap(spec.dilation),
                             output_padding=swap(spec.output_padding),
                             padding=spec.padding if isinstance(spec.padding, str) else swap(spec.padding))
            if swapped is not None:
                to_first = lambda a: to_channels_first(a, spec.channels_last)  # noqa: E731
                back = lambda a: from_channels_first(a, spec.channels_last)  # noqa: E731
                yield Candidate(
                    f"input axes {pair} exchanged (and the output exchanged back)", swapped,
                    back(np.swapaxes(to_first(x), 2 + i, 2 + j)).copy(), np.swapaxes(w, 2 + i, 2 + j).copy(), b,
                    lambda y, i=i, j=j: back(np.swapaxes(to_first(y), 2 + i, 2 + j)),
                )


def _same_padding_lower(spec, x, w, b):
    if spec.padding == "same":
        pads = tuple((after, before) for before, after in spec.explicit_padding)
        lower = spec.replace(padding=pads, output_padding=spec.explicit_output_padding)
        yield Candidate("SAME with the odd pad at the start", lower, x, w, b)


def _symmetric_padding(spec, x, w, b):
    if spec.padding == "same":
        pads = tuple((((k - 1) * d) // 2,) * 2 for k, d in zip(spec.kernel, spec.dilation))
        changed = _maybe(spec.replace, padding=pads)
        if changed is not None:
            yield Candidate(f"symmetric padding={tuple(p for p, _ in pads)} instead of SAME", changed, x, w, b)


def _causal_as_same(spec, x, w, b):
    if spec.rank != 1:
        return
    if spec.padding == "causal":
        yield Candidate("SAME padding where causal was meant", spec.replace(padding="same"), x, w, b)
    elif spec.padding == "same" or spec.explicit_padding == (same_padding(
            spec.spatial[0], spec.kernel[0], spec.stride[0], spec.dilation[0]),):
        changed = _maybe(spec.replace, padding="causal")
        if changed is not None:
            yield Candidate("causal padding where SAME was meant", changed, x, w, b)


def _depthwise_channel_order(spec, x, w, b):
    multiplier = spec.out_channels // spec.groups
    if spec.groups > 1 and spec.groups == spec.in_channels and multiplier > 1:
        c = spec.layout.index("C")
        # channel-major index ch*M + m read as multiplier-major m*C + ch
        order = np.arange(spec.out_channels).reshape(spec.groups, multiplier).T.ravel()
        yield Candidate("output channels multiplier-major (m*C + c) instead of channel-major (c*M + m)",
                        spec, x, w, b, lambda y: np.take(y, order, axis=c))


def _missing_bias(spec, x, w, b):
    if spec.bias:
        yield Candidate("the bias dropped", spec.replace(bias=False), x, w, None)
        yield Candidate("the bias added twice", spec, x, w, 2 * np.asarray(b))


def _output_padding_missing(spec, x, w, b):
    if not (spec.transposed and any(spec.output_padding)):
        return
    cropped = spec.replace(output_padding=0)
    yield Candidate("output_padding left out: the output that much shorter", cropped, x, w, b)
    zeros = [(0, 0)] * 2 + [(0, p) for p in spec.output_padding]
    yield Candidate("output_padding filled with zeros instead of the computed values", cropped, x, w, b,
                    lambda y: from_channels_first(np.pad(to_channels_first(y, spec.channels_last), zeros),
                                                  spec.channels_last))
    shifted = _maybe(spec.replace, output_padding=0, padding=tuple(
        (before - p, after) for (before, after), p in zip(spec.explicit_padding, spec.output_padding)))
    if shifted is not None:  # e.g. TF/Keras 'SAME' for PyTorch's padding=1, output_padding=1
        yield Candidate("the size reached by cropping less at the start instead of output_padding", shifted, x, w, b)


def _transposed_padding_as_input_padding(spec, x, w, b):
    if not spec.transposed:
        return
    # padding p of the stride-dilated input, instead of (k-1)*d - p: the crop becomes (k-1)*d - p
    crops = tuple(((k - 1) * d - before, (k - 1) * d - after)
                  for k, d, (before, after) in zip(spec.kernel, spec.dilation, spec.explicit_padding))
    changed = _maybe(spec.replace, padding=crops, output_padding=0)
    if changed is not None and crops != spec.explicit_padding:
        yield Candidate(f"the crop {spec.explicit_padding} padded onto the dilated input instead", changed, x, w, b)


def _padding_mode(spec, x, w, b):
    if spec.transposed or not spec.padded:
        return
    if spec.padding_mode != "zeros":
        yield Candidate(f"zeros where {spec.padding_mode} was meant", spec.replace(padding_mode="zeros"), x, w, b)
    if spec.padding_mode == "replicate":  # TensorFlow's SYMMETRIC repeats the edge only for a pad of 1
        pads = [(0, 0)] * 2 + list(spec.explicit_padding)
        symmetric = np.pad(to_channels_first(x, spec.channels_last), pads, mode="symmetric")
        valid = spec.replace(padding="valid", padding_mode="zeros", spatial=symmetric.shape[2:])
        yield Candidate("TensorFlow's SYMMETRIC taken for replicate", valid,
                        from_channels_first(symmetric, spec.channels_last), w, b)


def _maybe(build, **changes):
    """A changed spec, or None when the change is not a valid spec for these sizes."""
    try:
        return build(**changes)
    except ValueError:
        return None


HYPOTHESES = (
    Hypothesis("flipped_kernel", _flipped_kernel,
               "fix: frameworks compute cross-correlation; do not reverse the kernel (no np.flip / rot180)"),
    Hypothesis("weight_layout", _weight_layout,
               "fix: convert weights with a transpose, not a reshape: PyTorch (O, I, *k) -> TensorFlow "
               "(*k, I, O) is w.permute(2, 3, 1, 0) in 2-D, and back with (3, 2, 0, 1)"),
    Hypothesis("input_layout", _input_layout,
               "fix: convert activations with a transpose (NCHW -> NHWC is x.transpose(0, 2, 3, 1)), not a reshape, "
               "or pass the layout the call expects (data_format / dimension_numbers)"),
    Hypothesis("spatial_axes_swapped", _spatial_axes_swapped,
               "fix: keep the spatial axes in order (height before width); a plain .T or a (kw, kh) kernel "
               "swaps them"),
    Hypothesis("same_padding_lower", _same_padding_lower,
               "fix: TF/JAX 'SAME' puts the odd pad at the end: pad (total // 2, total - total // 2)"),
    Hypothesis("symmetric_padding", _symmetric_padding,
               "fix: PyTorch's symmetric padding=floor((k-1)*d/2) is not TF 'SAME' for even kernels or stride > 1: "
               "pad explicitly with F.pad(x, (before, after, ...)) using the SAME pads"),
    Hypothesis("causal_as_same", _causal_as_same,
               "fix: causal 1-D padding is (k-1)*d zeros before the sequence only: F.pad(x, ((k-1)*d, 0)) or "
               "Keras padding='causal'; SAME pads both sides"),
    Hypothesis("depthwise_channel_order", _depthwise_channel_order,
               "fix: depthwise output channel c*multiplier + m comes from input channel c (TensorFlow/Keras order); "
               "reshape Keras (*k, C, M) kernels to (C*M, 1, *k) via (C, M, *k)"),
    Hypothesis("missing_bias", _missing_bias,
               "fix: add the bias exactly once (check bias=True/use_bias and whether a separate add follows)"),
    Hypothesis("transposed_kernel_not_flipped", _transposed_kernel_not_flipped,
               "fix: a transposed conv is the forward conv with the kernel flipped: jax.lax.conv_transpose needs "
               "transpose_kernel=True for PyTorch/TF weights (or flip the spatial axes and swap in/out yourself)"),
    Hypothesis("output_padding_missing", _output_padding_missing,
               "fix: carry output_padding over (PyTorch/Keras output_padding; TF's output_shape; JAX pads "
               "(k-1)*d - p + output_padding at the end): it selects computed values, not zeros"),
    Hypothesis("transposed_padding_as_input_padding", _transposed_padding_as_input_padding,
               "fix: PyTorch/ONNX ConvTranspose padding p crops the output; as padding of the dilated input it is "
               "(k-1)*d - p (jax.lax.conv_transpose: use_consistent_padding=True, or pass those pads)"),
    Hypothesis("padding_mode", _padding_mode,
               "fix: pad with the layer's padding_mode first (torch F.pad(mode=...), tf.pad REFLECT, jnp.pad "
               "reflect/edge/wrap), then a 'valid' conv; TF's SYMMETRIC is not replicate: gather the edge"),
)


def _ratio(observed: np.ndarray, expected: np.ndarray, bound: np.ndarray) -> float:
    return judge(expected, observed, bound).ratio


def validate_observed(spec: ConvSpec, observed) -> np.ndarray:
    """``observed`` as float64; ValueError unless it has the output's number of dimensions."""
    observed = np.asarray(observed, np.float64)
    if observed.ndim != len(spec.output_shape):
        raise ValueError(f"observed: {observed.ndim} dimensions, the spec's output has {len(spec.output_shape)}")
    return observed


def diagnose(spec: ConvSpec, x, w, b, observed) -> Diagnosis:
    """Which named mistakes reproduce ``observed`` (the port's result, in ``spec.layout``;
    of another shape, only the mistakes that give that shape can)."""
    validate_inputs(spec, x, w, b)
    observed = validate_observed(spec, observed)
    exact = holds_exactly(spec, x, w, b)

    def outcome(s, xi, wi, bi, after):
        value = np.asarray(after(reference(s, xi, wi, bi)))
        bound = np.zeros_like(value) if exact else np.asarray(after(error_bound(s, xi, wi, bi)))
        return value, bound

    truth, truth_bound = outcome(spec, x, w, b, _unchanged)
    judgement = judge(truth, observed, truth_bound)
    shape_ok, ratio, max_abs_error = judgement.shape_ok, judgement.ratio, judgement.max_abs_error
    if ratio <= 1.0:
        return Diagnosis((), True, exact, ratio, max_abs_error, "none")
    findings = []
    for hypothesis in HYPOTHESES:
        best = None
        for candidate in hypothesis.candidates(spec, np.asarray(x), np.asarray(w), b):
            value, bound = outcome(candidate.spec, candidate.x, candidate.w, candidate.b, candidate.after)
            if value.shape != observed.shape or (shape_ok and np.array_equal(value, truth)):
                continue  # another shape, or cannot be told apart from a correct port here
            r = _ratio(observed, value, bound)
            if r <= 1.0 and (best is None or r < best.ratio):
                best = Finding(hypothesis.name, candidate.detail, hypothesis.fix, r)
        if best is not None:
            findings.append(best)
    findings.sort(key=lambda f: f.ratio)
    where = where_errors_sit(judgement.errors, truth_bound, spec.channels_last) if shape_ok else \
        f"in the shape: {observed.shape}, not {truth.shape}"
    return Diagnosis(tuple(findings), False, exact, ratio, max_abs_error, where)
