"""The float64 reference convolution, written with NumPy alone.

For every output position o and output channel (group g, filter f):

    y[n, g*F + f, o] = sum_{c, k} xpad[n, g*C + c, o*s + k*d] * w[g*F + f, c, k]  (+ b)

where xpad is the input zero-padded by the resolved (before, after) pairs,
C = in_channels/groups and F = out_channels/groups. It is computed as a
strided window view (im2col) and one batched BLAS matrix product per group.
"""

from __future__ import annotations

import math

import numpy as np

from .layouts import from_channels_first, to_channels_first
from .spec import ConvSpec


def convolve(spec: ConvSpec, x, w, b=None, *, dtype=np.float64) -> np.ndarray:
    """The convolution computed in ``dtype``; result in ``spec.layout``."""
    r, g = spec.rank, spec.groups
    x = to_channels_first(np.asarray(x), spec.channels_last).astype(dtype, copy=False)
    w = np.asarray(w).astype(dtype, copy=False)
    x = np.pad(x, ((0, 0), (0, 0), *spec.explicit_padding))
    extents = tuple((k - 1) * d + 1 for k, d in zip(spec.kernel, spec.dilation))
    spatial_axes = tuple(range(2, 2 + r))
    windows = np.lib.stride_tricks.sliding_window_view(x, extents, axis=spatial_axes)
    windows = windows[
        (slice(None), slice(None))
        + tuple(slice(None, None, s) for s in spec.stride)
        + tuple(slice(None, None, d) for d in spec.dilation)
    ]  # (N, C, *out, *kernel)
    out = spec.output_spatial
    n, cg, fg = spec.batch, spec.in_channels // g, spec.out_channels // g
    windows = windows.reshape(n, g, cg, *out, *spec.kernel)
    # (G, N, *out, C/g, *kernel): each row is one receptive field.
    order = (1, 0, *range(3, 3 + r), 2, *range(3 + r, 3 + 2 * r))
    patches = windows.transpose(order).reshape(g, n * math.prod(out), cg * math.prod(spec.kernel))
    filters = w.reshape(g, fg, cg * math.prod(spec.kernel)).transpose(0, 2, 1)
    y = np.matmul(patches, filters)  # (G, N*out, F)
    y = y.reshape(g, n, *out, fg)
    y = y.transpose(1, 0, 2 + r, *range(2, 2 + r)).reshape(n, spec.out_channels, *out)
    if b is not None:
        y = y + np.asarray(b).astype(dtype, copy=False).reshape(-1, *([1] * r))
    return from_channels_first(y, spec.channels_last)


def reference(spec: ConvSpec, x, w, b=None) -> np.ndarray:
    """The exact-input float64 result, in ``spec.layout``."""
    return np.ascontiguousarray(convolve(spec, x, w, b, dtype=np.float64))
