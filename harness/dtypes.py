"""NumPy dtypes and machine epsilons for the spec's dtype names.

bfloat16 has no NumPy dtype of its own; ml_dtypes provides one.
"""

from __future__ import annotations

import functools

import ml_dtypes
import numpy as np


@functools.cache
def numpy_dtype(name: str) -> np.dtype:
    return np.dtype(ml_dtypes.bfloat16) if name == "bfloat16" else np.dtype(name)


@functools.cache
def eps(name: str) -> float:
    """Machine epsilon: the gap between 1 and the next representable value."""
    return float(ml_dtypes.finfo(numpy_dtype(name)).eps)


def to_float64(array) -> np.ndarray:
    return np.asarray(array).astype(np.float64)


@functools.cache
def tiny(name: str) -> float:
    """The smallest subnormal: gradual underflow rounds to multiples of it."""
    return float(ml_dtypes.finfo(numpy_dtype(name)).smallest_subnormal)
