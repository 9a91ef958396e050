"""The float64 reference convolution, written with NumPy alone.

For every output position o and output channel (group g, filter f):

    y[n, g*F + f, o] = sum_{c, k} xpad[n, g*C + c, o*s + k*d] * w[g*F + f, c, k]  (+ b)

where xpad is the input zero-padded by the resolved (before, after) pairs,
C = in_channels/groups and F = out_channels/groups. It is computed as a
strided window view (im2col, one column per output position) and one
batched BLAS matrix product per group, batch item by batch item.
A padding mode other than zeros pads with NumPy's reflect, edge or wrap.

A transposed spec scatters instead of gathering: every input position i
adds its products to the full output at i*s + k*d,

    yfull[n, g*F + f, i*s + k*d] += x[n, g*C + c, i] * w[g*C + c, f, k]

split by position modulo the stride (phase), each output phase is a
stride-1 correlation of the input with the taps that land in it: one
batched matrix product per batch item gives every phase at once (the
phases' filters over the few input positions one output row draws on, with
zeros where no tap lands), and each phase is written to every s-th output
position. The output is yfull, zero-extended at the end, from ``begin`` for
``output_spatial`` positions.
"""

from __future__ import annotations

import math

import numpy as np

from .layouts import bias_broadcast_shape, channels_first_layout, from_channels_first, to_channels_first
from .spec import ConvSpec


NUMPY_PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def convolve(spec: ConvSpec, x, w, b=None, *, dtype=np.float64) -> np.ndarray:
    """The convolution computed in ``dtype``; result in ``spec.layout``."""
    return _convolve(spec, x, w, b, dtype, magnitudes=False)[0]


def _convolve(spec: ConvSpec, x, w, b, dtype, magnitudes: bool) -> tuple[np.ndarray, ...]:
    """The convolution, and with ``magnitudes`` |x| conv |w| from the same receptive fields."""
    x = to_channels_first(np.asarray(x), spec.channels_last).astype(dtype, copy=False)
    w = np.asarray(w).astype(dtype, copy=False)
    ys = (_transposed if spec.transposed else _forward)(spec, x, w, magnitudes)
    if b is not None:
        shape = bias_broadcast_shape(channels_first_layout(spec.layout), spec.out_channels)
        ys = (ys[0] + np.asarray(b).astype(dtype, copy=False).reshape(shape), *ys[1:])
    return tuple(from_channels_first(y, spec.channels_last) for y in ys)


def _forward(spec: ConvSpec, x: np.ndarray, w: np.ndarray, magnitudes: bool) -> tuple[np.ndarray, ...]:
    g, n, fg = spec.groups, spec.batch, spec.out_channels // spec.groups
    filters = w.reshape(g, fg, -1)
    ys = [np.empty((n, g, fg, math.prod(spec.output_spatial)), dtype=x.dtype) for _ in range(1 + magnitudes)]
    absolute = np.abs(filters) if magnitudes else None
    for item, columns in enumerate(receptive_fields(spec, x)):
        np.matmul(filters, columns, out=ys[0][item])
        if magnitudes:
            np.matmul(absolute, np.abs(columns), out=ys[1][item])
    return tuple(y.reshape(n, spec.out_channels, *spec.output_spatial) for y in ys)


def receptive_fields(spec: ConvSpec, x: np.ndarray):
    """Each batch item's receptive fields in the input padded as ``spec`` pads it
    (channels first): ``(groups, in_channels/groups * kernel volume, output positions)``,
    one column per output position, its rows in the flattened filters' order.
    One batch item at a time: a copy that is reused, not a fresh batch-sized one."""
    r, g = spec.rank, spec.groups
    x = np.pad(x, ((0, 0), (0, 0), *spec.explicit_padding), mode=NUMPY_PAD_MODES[spec.padding_mode])
    extents = tuple((k - 1) * d + 1 for k, d in zip(spec.kernel, spec.dilation))
    windows = np.lib.stride_tricks.sliding_window_view(x, extents, axis=tuple(range(2, 2 + r)))
    windows = windows[
        (slice(None), slice(None))
        + tuple(slice(None, None, s) for s in spec.stride)
        + tuple(slice(None, None, d) for d in spec.dilation)
    ]  # (N, C, *out, *kernel)
    out, cg = spec.output_spatial, spec.in_channels // g
    # (G, C/g, *kernel, *out): each column one receptive field; the copy runs along the input's rows
    order = (0, 1, *range(2 + r, 2 + 2 * r), *range(2, 2 + r))
    for item in range(spec.batch):
        yield windows[item].reshape(g, cg, *out, *spec.kernel).transpose(order).reshape(
            g, cg * math.prod(spec.kernel), math.prod(out))


def phase_taps(kernel: int, stride: int, dilation: int) -> np.ndarray:
    """On one axis, which tap reaches output phase p (position modulo the stride)
    from input i = q - j (q the phase's row): ``table[p, j]``, or ``kernel`` for none.
    Tap t lands at i*s + t*d, that is in phase t*d % s with j = t*d // s."""
    table = np.full((stride, (kernel - 1) * dilation // stride + 1), kernel)
    for t in range(kernel):
        table[t * dilation % stride, t * dilation // stride] = t
    return table


def _transposed(spec: ConvSpec, x: np.ndarray, w: np.ndarray, magnitudes: bool) -> tuple[np.ndarray, ...]:
    r, g = spec.rank, spec.groups
    n, cg, fg = spec.batch, spec.in_channels // g, spec.out_channels // g
    tables = [phase_taps(k, s, d) for k, s, d in zip(spec.kernel, spec.stride, spec.dilation)]
    reach = tuple(table.shape[1] for table in tables)  # the input positions one output phase row draws on
    extent = tuple(full + past for full, past in zip(spec.full_output_spatial, spec.past_full_output))
    rows = tuple(-(-e // s) for e, s in zip(extent, spec.stride))  # per phase
    # (G, phases*F, C*reach): each phase's filters over the input positions it draws on, a zero where no tap lands
    padded = np.pad(w.reshape(g, cg, fg, *spec.kernel), ((0, 0),) * 3 + ((0, 1),) * r)
    index = [table.reshape([len(table) if i == a else 1 for i in range(r)]
                           + [table.shape[1] if i == a else 1 for i in range(r)]) for a, table in enumerate(tables)]
    filters = padded[(slice(None),) * 3 + tuple(index)]  # (G, C, F, *stride, *reach)
    filters = filters.transpose(0, *range(3, 3 + r), 2, 1, *range(3 + r, 3 + 2 * r)).reshape(
        g, math.prod(spec.stride) * fg, cg * math.prod(reach))
    # input i = q - j: reach - 1 zeros before, and after up to the last row
    pads = ((0, 0), (0, 0), *((m - 1, q - size) for m, q, size in zip(reach, rows, spec.spatial)))
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(x, pads), reach, axis=tuple(range(2, 2 + r)))
    windows = np.flip(windows, tuple(range(2 + r, 2 + 2 * r)))  # window slot j is input q - j
    order = (0, 1, *range(2 + r, 2 + 2 * r), *range(2, 2 + r))  # (G, C, *reach, *rows)
    # where each phase goes in the output: every s-th position from the first at or after `begin`
    places = []
    for phase in np.ndindex(*spec.stride):
        to, src = [], []
        for p, s, (begin, _), size in zip(phase, spec.stride, spec.explicit_padding, spec.output_spatial):
            first = (p - begin) % s
            row = (begin + first - p) // s
            to.append(slice(first, size, s))
            src.append(slice(row, row + len(range(first, size, s))))
        places.append((phase, tuple(to), tuple(src)))
    ys = [np.empty((n, g, fg, *spec.output_spatial), dtype=x.dtype) for _ in range(1 + magnitudes)]
    absolute = np.abs(filters) if magnitudes else None
    for item in range(n):  # one batch item at a time: its columns and products stay in cache
        columns = windows[item].reshape(g, cg, *rows, *reach).transpose(order).reshape(
            g, cg * math.prod(reach), math.prod(rows))
        pairs = ((filters, columns), (absolute, np.abs(columns)) if magnitudes else None)[:len(ys)]
        for y, (weights, fields) in zip(ys, pairs):
            products = np.matmul(weights, fields).reshape(g, *spec.stride, fg, *rows)
            for phase, to, src in places:
                y[(item, slice(None), slice(None), *to)] = products[(slice(None), *phase, slice(None), *src)]
    return tuple(y.reshape(n, spec.out_channels, *spec.output_spatial) for y in ys)


def reference(spec: ConvSpec, x, w, b=None) -> np.ndarray:
    """The exact-input float64 result, in ``spec.layout``."""
    return np.ascontiguousarray(convolve(spec, x, w, b, dtype=np.float64))


def reference_and_magnitudes(spec: ConvSpec, x, w, b=None) -> tuple[np.ndarray, np.ndarray]:
    """``reference`` and the sums of its products' magnitudes, |x| conv |w| (what
    ``tolerance.error_bound`` is made of), from one pass over the receptive fields."""
    y, magnitudes = _convolve(spec, x, w, b, np.float64, magnitudes=True)
    return np.ascontiguousarray(y), magnitudes
