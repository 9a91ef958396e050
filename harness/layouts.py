"""Axis permutations between channels-first and channels-last, and weight orders.

The neutral weight order is (out, in/groups, *kernel), as in PyTorch and ONNX.
"""

from __future__ import annotations

import numpy as np


def to_channels_first_axes(rank: int) -> tuple[int, ...]:
    """Axes that take N, *spatial, C to N, C, *spatial."""
    return (0, rank + 1, *range(1, rank + 1))


def to_channels_last_axes(rank: int) -> tuple[int, ...]:
    """Axes that take N, C, *spatial to N, *spatial, C."""
    return (0, *range(2, rank + 2), 1)


def to_channels_first(array: np.ndarray, channels_last: bool) -> np.ndarray:
    if not channels_last:
        return array
    return np.transpose(array, to_channels_first_axes(array.ndim - 2))


def from_channels_first(array: np.ndarray, channels_last: bool) -> np.ndarray:
    if not channels_last:
        return array
    return np.transpose(array, to_channels_last_axes(array.ndim - 2))


def convert_layout(array: np.ndarray, channels_last: bool, to_channels_last: bool) -> np.ndarray:
    """``array`` in one channel order, in the other one (or as it is, where they agree)."""
    return from_channels_first(to_channels_first(np.asarray(array), channels_last), to_channels_last)


def weight_to_spatial_first_axes(rank: int) -> tuple[int, ...]:
    """Axes that take (O, I, *k) to TensorFlow's (*k, I, O)."""
    return (*range(2, rank + 2), 1, 0)


def weight_from_spatial_first_axes(rank: int) -> tuple[int, ...]:
    """Axes that take TensorFlow's (*k, I, O) to (O, I, *k)."""
    return (rank + 1, rank, *range(rank))


def bias_broadcast_shape(layout: str, channels: int) -> tuple[int, ...]:
    """The shape that broadcasts a bias of ``channels`` over an output in ``layout``: (1, C, 1, 1) for NCHW."""
    return tuple(channels if axis == "C" else 1 for axis in layout)


def channels_first_layout(layout: str) -> str:
    """``layout`` with the channels right after the batch: "NHWC" -> "NCHW" (a channels-first layout unchanged)."""
    return layout if layout[1] == "C" else layout[0] + "C" + layout[1:-1]


def channels_last_layout(layout: str) -> str:
    """``layout`` with the channels last: "NCHW" -> "NHWC" (a channels-last layout unchanged)."""
    return layout if layout.endswith("C") else layout[0] + layout[2:] + "C"


def weight_from_spatial_first(kernel: np.ndarray) -> np.ndarray:
    """A spatial-first kernel (*k, in/groups, out) (Keras, Flax, TensorFlow) in the neutral
    order (out, in/groups, *k); a transposed kernel (*k, out, in) -> (in, out, *k) alike."""
    return np.ascontiguousarray(np.transpose(kernel, weight_from_spatial_first_axes(kernel.ndim - 2)))
