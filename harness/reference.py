"""The float64 reference convolution, written with NumPy alone.

For every output position o and output channel (group g, filter f):

    y[n, g*F + f, o] = sum_{c, k} xpad[n, g*C + c, o*s + k*d] * w[g*F + f, c, k]  (+ b)

where xpad is the input zero-padded by the resolved (before, after) pairs,
C = in_channels/groups and F = out_channels/groups. It is computed as a
strided window view (im2col, one column per output position) and one
batched BLAS matrix product per group.
A padding mode other than zeros pads with NumPy's reflect, edge or wrap.

A transposed spec scatters instead of gathering: every input position i
adds its products to the full output at i*s + k*d,

    yfull[n, g*F + f, i*s + k*d] += x[n, g*C + c, i] * w[g*C + c, f, k]

computed as one batched matrix product per group (every input position
against every (filter, tap)) and one add per kernel tap into the output
split by position modulo the stride; the output is yfull, zero-extended at
the end, from ``begin`` for ``output_spatial`` positions.
"""

from __future__ import annotations

import math

import numpy as np

from .layouts import from_channels_first, to_channels_first
from .spec import ConvSpec


NUMPY_PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def convolve(spec: ConvSpec, x, w, b=None, *, dtype=np.float64) -> np.ndarray:
    """The convolution computed in ``dtype``; result in ``spec.layout``."""
    x = to_channels_first(np.asarray(x), spec.channels_last).astype(dtype, copy=False)
    w = np.asarray(w).astype(dtype, copy=False)
    y = (_transposed if spec.transposed else _forward)(spec, x, w)
    if b is not None:
        y = y + np.asarray(b).astype(dtype, copy=False).reshape(-1, *([1] * spec.rank))
    return from_channels_first(y, spec.channels_last)


def _forward(spec: ConvSpec, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    r, g = spec.rank, spec.groups
    x = np.pad(x, ((0, 0), (0, 0), *spec.explicit_padding), mode=NUMPY_PAD_MODES[spec.padding_mode])
    extents = tuple((k - 1) * d + 1 for k, d in zip(spec.kernel, spec.dilation))
    windows = np.lib.stride_tricks.sliding_window_view(x, extents, axis=tuple(range(2, 2 + r)))
    windows = windows[
        (slice(None), slice(None))
        + tuple(slice(None, None, s) for s in spec.stride)
        + tuple(slice(None, None, d) for d in spec.dilation)
    ]  # (N, C, *out, *kernel)
    out = spec.output_spatial
    n, cg, fg = spec.batch, spec.in_channels // g, spec.out_channels // g
    windows = windows.reshape(n, g, cg, *out, *spec.kernel)
    # (G, C/g, *kernel, N, *out): each column one receptive field; the copy runs along the input's rows
    order = (1, 2, *range(3 + r, 3 + 2 * r), 0, *range(3, 3 + r))
    columns = windows.transpose(order).reshape(g, cg * math.prod(spec.kernel), n * math.prod(out))
    y = np.matmul(w.reshape(g, fg, cg * math.prod(spec.kernel)), columns)  # (G, F, N*out)
    return np.ascontiguousarray(np.moveaxis(y.reshape(spec.out_channels, n, *out), 1, 0))


def _transposed(spec: ConvSpec, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    r, g = spec.rank, spec.groups
    n, cg, fg = spec.batch, spec.in_channels // g, spec.out_channels // g
    size, taps = spec.spatial, math.prod(spec.kernel)
    filters = np.ascontiguousarray(w.reshape(g, cg, fg * taps).transpose(0, 2, 1))
    begins = tuple(before for before, _ in spec.explicit_padding)
    extent = tuple(full + past for full, past in zip(spec.full_output_spatial, spec.past_full_output))
    # The output split by position modulo the stride (phase) on each axis: tap offset k*d adds
    # to phase k*d % s from row k*d // s on, a contiguous block, instead of a strided one.
    rows = tuple(-(-e // s) for e, s in zip(extent, spec.stride))
    y = np.zeros((n, g, fg, *spec.stride, *rows), dtype=x.dtype)
    places = []  # per tap: its phase on each axis, and the rows it adds to in that phase
    for tap in np.ndindex(*spec.kernel):
        offsets = [k * d for k, d in zip(tap, spec.dilation)]
        places.append((*(o % s for o, s in zip(offsets, spec.stride)),
                       *(slice(o // s, o // s + i) for o, s, i in zip(offsets, spec.stride, size))))
    for item in range(n):  # one batch item at a time: its products and output stay in cache
        # (G, F*K, in): every (filter, tap) against every input position of its group
        products = np.matmul(filters, x[item].reshape(g, cg, math.prod(size))).reshape(g, fg, taps, *size)
        for t, where in enumerate(places):
            y[(item, slice(None), slice(None), *where)] += products[:, :, t]
    interleaved = (0, 1, 2, *(axis for a in range(r) for axis in (3 + r + a, 3 + a)))  # row, phase per axis
    y = y.transpose(interleaved).reshape(n, g, fg, *(q * s for q, s in zip(rows, spec.stride)))
    y = y[(Ellipsis, *(slice(begin, begin + out) for begin, out in zip(begins, spec.output_spatial)))]
    return np.ascontiguousarray(y).reshape(n, spec.out_channels, *spec.output_spatial)


def reference(spec: ConvSpec, x, w, b=None) -> np.ndarray:
    """The exact-input float64 result, in ``spec.layout``."""
    return np.ascontiguousarray(convolve(spec, x, w, b, dtype=np.float64))
