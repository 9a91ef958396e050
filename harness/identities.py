"""Metamorphic relations: two different computations that must give one result.

Each identity rewrites a spec and its data into another form (one or more
convolutions and a way to combine their outputs back into the original
output); both forms are then run in the same backend and compared under the
spec's error bound (twice it, as both sides carry rounding error). A gradient
identity does the same with the backend's gradients at a cotangent dy (each of
dx, dw and db the rewrite gives, under twice its ``gradient_bounds``).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from .backends import Unsupported, backend_vjp, run_backend
from .backends.base import NoForm
from .dtypes import to_float64
from .gradients import Gradients, gradient_bounds
from .layouts import (
    bias_broadcast_shape,
    channels_first_layout,
    channels_last_layout,
    to_channels_first_axes,
    to_channels_last_axes,
)
from .reference import NUMPY_PAD_MODES
from .spec import ConvSpec, full_transposed_length, layout_of
from .status import Status
from .tolerance import error_bound, judge, judge_against_reference


@dataclasses.dataclass(frozen=True)
class Run:
    spec: ConvSpec
    x: np.ndarray
    w: np.ndarray
    b: np.ndarray | None = None
    gradient: bool = False  # x is a cotangent of the output: run the gradient with respect to the input
    cotangent: np.ndarray | None = None  # run the gradients (dx, dw, db) at this cotangent instead

    def output(self, backend: str) -> np.ndarray | Gradients:
        if self.cotangent is not None:
            return backend_vjp(backend, self.spec, self.x, self.w, self.b, self.cotangent)
        if self.gradient:  # dx does not depend on the input: zeros stand for it
            zeros = np.zeros(self.spec.input_shape, self.x.dtype)
            return backend_vjp(backend, self.spec, zeros, self.w, None, self.x).dx
        return run_backend(backend, self.spec, self.x, self.w, self.b)


@dataclasses.dataclass(frozen=True)
class Rewrite:
    """The other side of an identity: convolutions to run and how to combine them."""

    runs: tuple[Run, ...]
    combine: Callable[[list[np.ndarray]], np.ndarray]


@dataclasses.dataclass(frozen=True)
class Identity:
    name: str
    applies: Callable[[ConvSpec], bool]
    rewrite: Callable[..., Rewrite]  # (spec, x, w, b), and dy for a gradient identity
    gradient: bool = False  # the spec's side is the backend's gradients at dy; combine gives Gradients


def _single(run: Run, back: Callable[[np.ndarray], np.ndarray]) -> Rewrite:
    return Rewrite((run,), lambda outputs: back(outputs[0]))


def _add_unit_axis(spec: ConvSpec, x, w, b) -> Rewrite:
    """conv{r}d as conv{r+1}d with a leading spatial axis of size 1."""
    layout = layout_of(spec.rank + 1, spec.channels_last)
    padding = spec.padding if spec.padding in ("valid", "same") else ((0, 0), *spec.explicit_padding)
    lifted = spec.replace(
        layout=layout, spatial=(1, *spec.spatial), kernel=(1, *spec.kernel), stride=(1, *spec.stride),
        dilation=(1, *spec.dilation), padding=padding, output_padding=(0, *spec.output_padding),
    )
    axis = 1 if spec.channels_last else 2  # where the new spatial axis goes
    return _single(
        Run(lifted, np.expand_dims(x, axis), np.expand_dims(w, 2), b),
        lambda y: np.squeeze(y, axis),
    )


def _other_channel_order(spec: ConvSpec, x, w, b) -> Rewrite:
    r = spec.rank
    if spec.channels_last:
        layout, forward, back = channels_first_layout(spec.layout), to_channels_first_axes(r), to_channels_last_axes(r)
    else:
        layout, forward, back = channels_last_layout(spec.layout), to_channels_last_axes(r), to_channels_first_axes(r)
    return _single(
        Run(spec.replace(layout=layout), np.ascontiguousarray(np.transpose(x, forward)), w, b),
        lambda y: np.transpose(y, back),
    )


def _explicit_padding(spec: ConvSpec, x, w, b) -> Rewrite:
    explicit = spec.replace(padding=spec.explicit_padding, output_padding=spec.explicit_output_padding)
    return _single(Run(explicit, x, w, b), lambda y: y)


def _per_group(spec: ConvSpec, x, w, b) -> Rewrite:
    g = spec.groups
    cg, fg = spec.in_channels // g, spec.out_channels // g
    axis = x.ndim - 1 if spec.channels_last else 1
    single = spec.replace(groups=1, in_channels=cg, out_channels=fg)
    per = cg if spec.transposed else fg  # weights are (in, out/g, *k) transposed, (out, in/g, *k) forward
    runs = tuple(
        Run(
            single,
            np.ascontiguousarray(np.take(x, range(i * cg, (i + 1) * cg), axis=axis)),
            w[i * per:(i + 1) * per],
            None if b is None else b[i * fg:(i + 1) * fg],
        )
        for i in range(g)
    )
    return Rewrite(runs, lambda outputs: np.concatenate(outputs, axis=axis))


def _zero_inserted_kernel(spec: ConvSpec, x, w, b) -> Rewrite:
    extents = tuple((k - 1) * d + 1 for k, d in zip(spec.kernel, spec.dilation))
    dilated = np.zeros(w.shape[:2] + extents, dtype=w.dtype)
    dilated[(slice(None), slice(None)) + tuple(slice(None, None, d) for d in spec.dilation)] = w
    return _single(Run(spec.replace(kernel=extents, dilation=1), x, dilated, b), lambda y: y)


def _stride_one_subsampled(spec: ConvSpec, x, w, b) -> Rewrite:
    dense = spec.replace(stride=1, padding=spec.explicit_padding)
    offset = 1 if spec.channels_last else 2
    index = [slice(None)] * (spec.rank + 2)
    for axis, s in enumerate(spec.stride):
        index[offset + axis] = slice(None, None, s)
    return _single(Run(dense, x, w, b), lambda y: y[tuple(index)])


def _spatial_index(spec: ConvSpec, slices) -> tuple:
    """An index of ``spec.layout`` arrays that applies ``slices`` to the spatial axes."""
    offset = 1 if spec.channels_last else 2
    index = [slice(None)] * (spec.rank + 2)
    index[offset:offset + spec.rank] = slices
    return tuple(index)


def _forward_kernel(spec: ConvSpec, w) -> np.ndarray:
    """A transposed spec's (in, out/g, *k) kernel flipped and regrouped as a forward (out, in/g, *k) one."""
    g = spec.groups
    flipped = np.flip(w, axis=tuple(range(2, 2 + spec.rank)))
    grouped = flipped.reshape(g, spec.in_channels // g, spec.out_channels // g, *spec.kernel).swapaxes(1, 2)
    return np.ascontiguousarray(grouped.reshape(spec.out_channels, spec.in_channels // g, *spec.kernel))


def _zero_inserted_input(spec: ConvSpec, x, w, b) -> Rewrite:
    """A transposed conv is the stride-1 forward conv of its input with stride-1
    zeros inserted (and zeros after, where the output reaches past the full
    one), padded by the dilated kernel, with the flipped, in/out-swapped
    kernel; the crop is a slice of that."""
    begins = [before for before, _ in spec.explicit_padding]
    spatial = tuple((n - 1) * s + 1 + past for n, s, past in zip(spec.spatial, spec.stride, spec.past_full_output))
    inserted = np.zeros(spec.replace(transposed=False, spatial=spatial, padding="valid", output_padding=0,
                                     kernel=1, dilation=1).input_shape, dtype=x.dtype)
    inserted[_spatial_index(spec, [slice(0, (n - 1) * s + 1, s) for n, s in zip(spec.spatial, spec.stride)])] = x
    forward = spec.replace(transposed=False, output_padding=0, spatial=spatial, stride=1,
                           padding=tuple(((k - 1) * d,) * 2 for k, d in zip(spec.kernel, spec.dilation)))
    crop = _spatial_index(spec, [slice(b, b + out) for b, out in zip(begins, spec.output_spatial)])
    return _single(Run(forward, inserted, _forward_kernel(spec, w), b), lambda y: y[crop])


def _plus_bias(spec: ConvSpec, b) -> Callable[[np.ndarray], np.ndarray]:
    """What adds the bias ``b`` (None: nothing) to an output in ``spec.layout``, in float64."""
    if b is None:
        return lambda y: y
    shape = bias_broadcast_shape(spec.layout, spec.out_channels)
    return lambda y: y.astype(np.float64) + b.astype(np.float64).reshape(shape)


def _forward_gradient(spec: ConvSpec, x, w, b) -> Rewrite:
    """A transposed conv is the gradient, with respect to its input, of the forward
    conv that has its weights, stride, dilation and crops as padding, at the
    transposed conv's input (zeros after it where output_padding adds a whole
    stride of forward outputs); its bias added after."""
    forward = spec.replace(transposed=False, output_padding=0, in_channels=spec.out_channels,
                           out_channels=spec.in_channels, spatial=spec.output_spatial,
                           padding=spec.explicit_padding, bias=False)
    cotangent = np.zeros(forward.output_shape, dtype=x.dtype)
    cotangent[_spatial_index(spec, [slice(0, n) for n in spec.spatial])] = x
    return _single(Run(forward, cotangent, w, gradient=True), _plus_bias(spec, b))


def _lifted_gradients(spec: ConvSpec, x, w, b, dy) -> Rewrite:
    """conv{r}d's gradients are conv{r+1}d's with a leading spatial axis of size 1, that axis
    taken out again: from dx and dy as from x and y, from dw as from w; db is the same."""
    lifted = _add_unit_axis(spec, x, w, b).runs[0]
    axis = 1 if spec.channels_last else 2
    run = dataclasses.replace(lifted, cotangent=np.expand_dims(dy, axis))
    return _single(run, lambda got: Gradients(np.squeeze(got.dx, axis), np.squeeze(got.dw, 2), got.db))


def input_gradient_spec(spec: ConvSpec) -> ConvSpec:
    """The transposed conv that maps a forward spec's cotangent dy to its input gradient dx:
    the same weights read as (in, out/groups, *k), stride, dilation and groups, the
    forward's pads cropped, and output_padding for the input positions no window reached."""
    full = (full_transposed_length(m, k, s, d) for m, k, s, d in zip(spec.output_spatial, spec.kernel, spec.stride,
                                                                     spec.dilation))
    past = tuple(n + before + after - length
                 for n, (before, after), length in zip(spec.spatial, spec.explicit_padding, full))
    return spec.replace(transposed=True, in_channels=spec.out_channels, out_channels=spec.in_channels,
                        spatial=spec.output_spatial, padding=spec.explicit_padding, output_padding=past, bias=False)


def _input_gradient_as_transposed_conv(spec: ConvSpec, x, w, b, dy) -> Rewrite:
    """A forward conv's dx is the transposed conv of dy with its weights
    (``input_gradient_spec``), computed here as a transposed conv is by definition:
    a stride-1 conv of dy with zeros inserted, padded by the dilated kernel, with the
    flipped, in/out-swapped kernel (``_zero_inserted_input``); the pads cropped."""
    rewrite = _zero_inserted_input(input_gradient_spec(spec), dy, w, None)
    return Rewrite(rewrite.runs, lambda outputs: Gradients(rewrite.combine(outputs), None))


def _padded_first(spec: ConvSpec, x, w, b) -> Rewrite:
    """A padding mode is NumPy's pad of the input (reflect, edge, wrap), then a 'valid' conv."""
    pads = [(0, 0)] * (spec.rank + 2)
    offset = 1 if spec.channels_last else 2
    pads[offset:offset + spec.rank] = spec.explicit_padding
    padded = np.pad(x, pads, mode=NUMPY_PAD_MODES[spec.padding_mode])
    valid = spec.replace(padding="valid", padding_mode="zeros", spatial=tuple(
        n + before + after for n, (before, after) in zip(spec.spatial, spec.explicit_padding)))
    return _single(Run(valid, padded, w, b), lambda y: y)


def _bias_added_after(spec: ConvSpec, x, w, b) -> Rewrite:
    return _single(Run(spec.replace(bias=False), x, w, None), _plus_bias(spec, b))


IDENTITIES = (
    Identity("conv1d_equals_conv2d_with_height_one", lambda s: s.rank == 1, _add_unit_axis),
    Identity("conv2d_equals_conv3d_with_depth_one", lambda s: s.rank == 2, _add_unit_axis),
    Identity("channels_first_equals_transposed_channels_last", lambda s: True, _other_channel_order),
    Identity("same_or_causal_equals_explicit_padding", lambda s: s.padding in ("same", "causal"), _explicit_padding),
    Identity("grouped_equals_concatenated_groups", lambda s: s.groups > 1, _per_group),
    Identity("dilation_equals_zero_inserted_kernel", lambda s: max(s.dilation) > 1 and not s.transposed,
             _zero_inserted_kernel),
    Identity("stride_equals_subsampled_stride_one", lambda s: max(s.stride) > 1 and not s.transposed,
             _stride_one_subsampled),
    Identity("bias_equals_adding_it_afterwards", lambda s: s.bias, _bias_added_after),
    Identity("transposed_equals_conv_of_zero_inserted_input", lambda s: s.transposed, _zero_inserted_input),
    Identity("transposed_equals_gradient_of_forward_conv", lambda s: s.transposed, _forward_gradient),
    Identity("padding_mode_equals_padding_first", lambda s: s.padding_mode != "zeros", _padded_first),
    Identity("conv1d_gradient_equals_conv2d_gradient_with_height_one", lambda s: s.rank == 1, _lifted_gradients,
             gradient=True),
    Identity("input_gradient_equals_transposed_conv_of_dy_with_flipped_kernel",
             lambda s: not s.transposed and s.padding_mode == "zeros", _input_gradient_as_transposed_conv,
             gradient=True),
)
BY_NAME = {identity.name: identity for identity in IDENTITIES}


@dataclasses.dataclass(frozen=True)
class IdentityOutcome:
    identity: str
    backend: str
    status: Status  # PASS, MISMATCH or UNSUPPORTED
    ratio: float | None = None  # worst |difference| / (2 * bound)
    message: str = ""
    # for a mismatch, the sides that stray from the float64 reference beyond the bound:
    # "spec" (the spec run as it is), "rewrite" (the identity's other form), both, or neither
    broken: tuple[str, ...] = ()


def check_identity(identity: Identity, backend: str, spec: ConvSpec, x, w, b=None, dy=None) -> IdentityOutcome:
    """Run both sides of ``identity`` in ``backend`` and judge one against the other under
    twice the bound; for a mismatch, judge each side against the reference too. A
    gradient identity needs the cotangent ``dy`` (``make_cotangent``)."""
    if identity.gradient:
        return check_gradient_identity(identity, backend, spec, x, w, b, dy)
    rewrite = identity.rewrite(spec, x, w, b)
    try:
        direct = run_backend(backend, spec, x, w, b)
        outputs = [run.output(backend) for run in rewrite.runs]
    except (Unsupported, NoForm) as exc:  # a declared refusal, or a backend without autograd
        return IdentityOutcome(identity.name, backend, Status.UNSUPPORTED, message=str(exc))
    direct, other = to_float64(direct), to_float64(rewrite.combine(outputs))
    bound = error_bound(spec, x, w, b)
    between = judge(direct, other, 2 * bound)
    if not between.shape_ok:
        return IdentityOutcome(identity.name, backend, Status.MISMATCH, float("inf"),
                               f"shapes {direct.shape} and {other.shape}")
    if between.within_bound:
        return IdentityOutcome(identity.name, backend, Status.PASS, between.ratio)
    sides = {side: judge_against_reference(spec, x, w, b, y).ratio
             for side, y in (("spec", direct), ("rewrite", other))}
    worst = between.worst_index
    against = ", ".join(f"{side} side {r:.3g} x" for side, r in sides.items())
    return IdentityOutcome(
        identity.name, backend, Status.MISMATCH, between.ratio,
        f"differ by {between.errors[worst]:.3g} at {worst}, {between.ratio:.3g} x the bound; "
        f"against the reference: {against} the bound",
        tuple(side for side, r in sides.items() if not r <= 1),
    )


def check_gradient_identity(identity: Identity, backend: str, spec: ConvSpec, x, w, b, dy) -> IdentityOutcome:
    """Both sides of a gradient identity in ``backend``: its gradients of ``spec`` at ``dy``
    against the rewrite's, each gradient the rewrite gives under twice its
    ``gradient_bounds``; the worst ratio is reported, and for a mismatch, which
    gradient strays and which side is off the float64 reference_vjp."""
    from .gradients import reference_vjp

    if dy is None:
        raise ValueError(f"dy: the gradient identity {identity.name} needs a cotangent (make_cotangent)")
    rewrite = identity.rewrite(spec, x, w, b, dy)
    try:
        direct = backend_vjp(backend, spec, x, w, b, dy)
        other = rewrite.combine([run.output(backend) for run in rewrite.runs])
    except (Unsupported, NoForm) as exc:  # a declared refusal, or a backend without autodiff
        return IdentityOutcome(identity.name, backend, Status.UNSUPPORTED, message=str(exc))
    bounds, expected = gradient_bounds(spec, x, w, b, dy), reference_vjp(spec, x, w, b, dy)
    compared = [q for q in Gradients._fields if getattr(other, q) is not None]
    between = {q: judge(to_float64(getattr(direct, q)), getattr(other, q), 2 * getattr(bounds, q)) for q in compared}
    worst = max(compared, key=lambda q: between[q].ratio)
    if all(j.shape_ok and j.within_bound for j in between.values()):
        return IdentityOutcome(identity.name, backend, Status.PASS, between[worst].ratio)
    sides = {side: max(judge(getattr(expected, q), getattr(got, q), getattr(bounds, q)).ratio for q in compared)
             for side, got in (("spec", direct), ("rewrite", other))}
    against = ", ".join(f"{side} side {r:.3g} x" for side, r in sides.items())
    return IdentityOutcome(
        identity.name, backend, Status.MISMATCH, between[worst].ratio,
        f"{worst} differs, {between[worst].ratio:.3g} x the bound at {between[worst].worst_index}; "
        f"against reference_vjp: {against} the bound", tuple(side for side, r in sides.items() if not r <= 1))
