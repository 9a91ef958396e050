"""The backward pass in float64 NumPy: a convolution's vector-Jacobian product, and
the error bounds a framework's gradients are held to.

For a forward spec, y[n, gF+f, o] = sum_{c,k} xpad[n, gC+c, o*s + k*d] * w[gF+f, c, k] + b,
and given the cotangent dy (C = in/groups, F = out/groups per group g):

    dxpad[n, gC+c, i] = sum_{f, (o, k): o*s + k*d = i} dy[n, gF+f, o] * w[gF+f, c, k]
    dw[gF+f, c, k]    = sum_{n, o} xpad[n, gC+c, o*s + k*d] * dy[n, gF+f, o]
    db[gF+f]          = sum_{n, o} dy[n, gF+f, o]

dxpad is the transposed convolution of dy with the same weights (read as a transposed
spec's (in, out/groups, *k): the flipped kernel with each group's in and out swapped),
zero over the padded input's last positions that no window reaches; dx is the pad's
adjoint of it: a crop for zeros, and for reflect, replicate and circular each padded
position's gradient added back to the input position it copies. dw is a correlation of
the padded input with dy, one matrix product per batch item over the forward's columns.

A transposed spec is the adjoint in x of a forward conv, its dual (input and output
channels swapped, the full output as its input, 'valid'): y = E(dual^T x), with E the
crop and the zero extension of the output. With ybar = E^T dy (dy back in the full
output, zeros where the crop cut), dx = dual(ybar, w) and dw is the dual's dw with ybar
as its input and x as its cotangent.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .dtypes import to_float64
from .inputs import validate_inputs
from .layouts import channels_first_layout, from_channels_first, to_channels_first
from .reference import NUMPY_PAD_MODES, convolve, receptive_fields
from .spec import ConvSpec, full_transposed_length
from .tolerance import input_rounding, sum_bound


class Gradients(NamedTuple):
    """A convolution's gradients, or bounds on them: ``dx`` in the spec's layout, ``dw``
    in the neutral weight order ((out, in/groups, *k); transposed (in, out/groups, *k)),
    ``db`` of shape (out,), None without a bias."""

    dx: np.ndarray
    dw: np.ndarray
    db: np.ndarray | None = None


def reference_vjp(spec: ConvSpec, x, w, b, dy) -> Gradients:
    """The exact-input float64 gradients of ``<conv(x, w, b), dy>`` with respect to x, w
    and b, from the identities in the module docstring (no numeric differentiation)."""
    validate_inputs(spec, x, w, b)
    if np.shape(dy) != spec.output_shape:
        raise ValueError(f"dy: shape {np.shape(dy)} does not fit the spec, which needs {spec.output_shape}")
    x, dy = (to_channels_first(to_float64(a), spec.channels_last) for a in (x, dy))
    w = to_float64(w)
    if spec.transposed:
        dual, ybar = forward_dual(spec), _uncrop(spec, dy)
        dx, dw = convolve(dual, ybar, w), _weight_gradient(dual, ybar, x)
    else:
        dx = _unpad(spec, convolve(transposed_dual(spec), dy, w))
        dw = _weight_gradient(spec, x, dy)
    db = None if b is None else dy.sum(axis=(0, *range(2, 2 + spec.rank)))
    return Gradients(np.ascontiguousarray(from_channels_first(dx, spec.channels_last)), dw, db)


def _dual(spec: ConvSpec, **fields) -> ConvSpec:
    """A float64 channels-first spec with ``spec``'s kernel, stride, dilation and groups,
    its input and output channels swapped."""
    return ConvSpec(layout=channels_first_layout(spec.layout), batch=spec.batch, in_channels=spec.out_channels,
                    out_channels=spec.in_channels, kernel=spec.kernel, stride=spec.stride, dilation=spec.dilation,
                    groups=spec.groups, dtype="float64", **fields)


def transposed_dual(spec: ConvSpec) -> ConvSpec:
    """The transposed spec that takes a forward spec's dy to the gradient of its padded
    input: output padding for the last positions no window reaches (fewer than the stride)."""
    padded = [n + before + after for n, (before, after) in zip(spec.spatial, spec.explicit_padding)]
    full = map(full_transposed_length, spec.output_spatial, spec.kernel, spec.stride, spec.dilation)
    return _dual(spec, spatial=spec.output_spatial, transposed=True,
                 output_padding=tuple(p - f for p, f in zip(padded, full)))


def forward_dual(spec: ConvSpec) -> ConvSpec:
    """The forward spec whose adjoint in x is a transposed spec before its crop: its
    input is the transposed spec's full output, its output the transposed spec's input."""
    return _dual(spec, spatial=spec.full_output_spatial)


def _weight_gradient(spec: ConvSpec, x: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """dw of a forward spec (channels first): each group's dy against the forward's columns,
    as dw^T = columns @ dy^T (a transposed view of the large columns costs NumPy's stacked
    matmul its BLAS call, a copy of the small dy^T does not)."""
    g, fg = spec.groups, spec.out_channels // spec.groups
    cotangent = dy.reshape(spec.batch, g, fg, math.prod(spec.output_spatial)).transpose(0, 1, 3, 2)
    transposed = np.zeros((g, spec.in_channels // g * math.prod(spec.kernel), fg))
    for item, columns in enumerate(receptive_fields(spec, x)):
        transposed += np.matmul(columns, np.ascontiguousarray(cotangent[item]))
    return np.ascontiguousarray(transposed.transpose(0, 2, 1)).reshape(spec.weight_shape)


def _along(axis: int, index) -> tuple:
    return (slice(None),) * axis + (index,)


def _unpad(spec: ConvSpec, grad: np.ndarray) -> np.ndarray:
    """The adjoint of the spec's padding, axis by axis: the interior, plus where the mode
    copies input positions into the pad, each padded position's gradient at its source."""
    for axis, (size, (before, after)) in enumerate(zip(spec.spatial, spec.explicit_padding), start=2):
        inner = grad[_along(axis, slice(before, before + size))]
        if spec.padding_mode == "zeros" or not (before or after):
            grad = inner
            continue
        source = np.pad(np.arange(size), (before, after), mode=NUMPY_PAD_MODES[spec.padding_mode])
        folded = inner.copy()
        for edge in (slice(0, before), slice(before + size, before + size + after)):
            np.add.at(folded, _along(axis, source[edge]), grad[_along(axis, edge)])  # replicate repeats a source
        grad = folded
    return grad


def _uncrop(spec: ConvSpec, dy: np.ndarray) -> np.ndarray:
    """E^T dy for a transposed spec: dy put back in the full output, zeros where the
    crop cut, and the positions past the full output (zeros in y) dropped."""
    ybar = np.zeros((spec.batch, spec.out_channels, *spec.full_output_spatial))
    into, taken = [slice(None)] * 2, [slice(None)] * 2
    for size, full, (begin, _) in zip(spec.output_spatial, spec.full_output_spatial, spec.explicit_padding):
        kept = min(size, full - begin)
        into.append(slice(begin, begin + kept))
        taken.append(slice(0, kept))
    ybar[tuple(into)] = dy[tuple(taken)]
    return ybar


def gradient_lengths(spec: ConvSpec) -> tuple[int, int, int]:
    """How many products are summed into each element of dx, dw and db, at most.

    dx: the output channels of its group times the taps that land on one position
    (one in every s/gcd(s, d) on each axis), plus, where the padding mode copies input
    positions, the additions that fold up to 3 padded positions per axis (the position
    and its copies before and after) into one. dw: batch times the positions of the
    forward (for a transposed spec, of its input). db: batch times output positions.
    """
    if spec.transposed:
        dual = forward_dual(spec)
        dx, positions = dual.reduction_length, math.prod(spec.spatial)
    else:
        dx = transposed_dual(spec).reduction_length + (3 ** spec.rank - 1 if spec.mode_fills else 0)
        positions = math.prod(spec.output_spatial)
    return dx, spec.batch * positions, spec.batch * math.prod(spec.output_spatial)


def gradient_bounds(spec: ConvSpec, x, w, b, dy, *, precision: str | None = None) -> Gradients:
    """Per-element bounds on |backend gradient - reference_vjp|, as ``Gradients``
    (``db`` None without a bias), derived as ``tolerance.error_bound`` is.

    Each gradient element is a sum of products: a dx element sums dy*w over the output
    channels of its group and the taps that land on its position, a dw element sums
    xpad*dy over the batch and every output position (a much longer sum), a db element
    sums dy over the batch and the output positions. A sum of K terms computed in any
    order in a format with machine epsilon eps is off by at most about (K-1)*eps times
    the sum of the terms' absolute values; those sums are the same gradients of |x|,
    |w| and |dy| (reference_vjp is linear in each), and K is ``gradient_lengths``. Each
    bound is ``tolerance.sum_bound`` of them:

        bound = (C*K + 1) * (eps(dtype) * magnitude + tiny(dtype))

    with error_bound's C = 2 and its rounding of the result, and for ``precision="tf32"``
    (float32 on accelerators) its term for x, w and dy rounded to TF32 before the
    products of dx and dw; db multiplies nothing, so TF32 does not reach it. The inputs
    and dy are exactly representable in the dtype, so they add no error.
    """
    rounding = input_rounding(spec, precision)
    magnitudes = reference_vjp(spec, np.abs(to_float64(x)), np.abs(to_float64(w)),
                               None if b is None else np.abs(to_float64(b)), np.abs(to_float64(dy)))
    lengths = gradient_lengths(spec)
    dx, dw = (sum_bound(k, m, spec.dtype, rounding) for k, m in zip(lengths[:2], magnitudes[:2]))
    db = None if b is None else sum_bound(lengths[2], magnitudes.db, spec.dtype)
    return Gradients(dx, dw, db)
