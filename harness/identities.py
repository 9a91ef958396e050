"""Metamorphic relations: two different computations that must give one result.

Each identity rewrites a spec and its data into another form (one or more
convolutions and a way to combine their outputs back into the original
output); both forms are then run in the same backend and compared under the
spec's error bound (twice it, as both sides carry rounding error).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from .backends import Unsupported, input_gradient, run_backend
from .backends.base import NoForm
from .dtypes import to_float64
from .layouts import (
    bias_shape,
    channels_first_layout,
    channels_last_layout,
    to_channels_first_axes,
    to_channels_last_axes,
)
from .reference import NUMPY_PAD_MODES
from .spec import ConvSpec, layout_of
from .status import Status
from .tolerance import error_bound, judge, judge_against_reference


@dataclasses.dataclass(frozen=True)
class Run:
    spec: ConvSpec
    x: np.ndarray
    w: np.ndarray
    b: np.ndarray | None = None
    gradient: bool = False  # x is a cotangent of the output: run the gradient with respect to the input

    def output(self, backend: str) -> np.ndarray:
        if self.gradient:
            return input_gradient(backend, self.spec, self.w, self.x)
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
    rewrite: Callable[[ConvSpec, np.ndarray, np.ndarray, np.ndarray | None], Rewrite]


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
    shape = bias_shape(spec.layout, spec.out_channels)
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


def check_identity(identity: Identity, backend: str, spec: ConvSpec, x, w, b=None) -> IdentityOutcome:
    """Run both sides of ``identity`` in ``backend`` and judge one against the other under
    twice the bound; for a mismatch, judge each side against the reference too."""
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
