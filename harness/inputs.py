"""Deterministic test data for a spec, exactly representable in its dtype."""

from __future__ import annotations

import numpy as np

from .dtypes import numpy_dtype
from .spec import ConvSpec


def make_inputs(spec: ConvSpec, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Return ``(x, w, b)`` in ``spec.dtype``; ``b`` is None without bias.

    Values are drawn uniformly from [-1, 1) in float64 and rounded to the
    spec's dtype, so the float64 reference sees exactly the values every
    framework sees.
    """
    rng = np.random.default_rng(seed)
    dtype = numpy_dtype(spec.dtype)
    draw = lambda shape: rng.uniform(-1.0, 1.0, size=shape).astype(dtype)  # noqa: E731
    x = draw(spec.input_shape)
    w = draw(spec.weight_shape)
    b = draw(spec.bias_shape) if spec.bias else None
    return x, w, b


def inputs_code(spec: ConvSpec, seed: int) -> list[str]:
    """Lines of plain NumPy that build exactly ``make_inputs(spec, seed)``."""
    dtype = "ml_dtypes.bfloat16" if spec.dtype == "bfloat16" else repr(spec.dtype)
    lines = ["import ml_dtypes"] if spec.dtype == "bfloat16" else []
    lines.append(f"rng = np.random.default_rng({seed})")
    for name, shape in (("x", spec.input_shape), ("w", spec.weight_shape), ("b", spec.bias_shape)):
        if shape is not None:
            lines.append(f"{name} = rng.uniform(-1.0, 1.0, size={shape}).astype({dtype})")
    return lines


def validate_inputs(spec: ConvSpec, x, w, b) -> None:
    """Raise ValueError naming the array whose shape does not fit ``spec``."""
    for name, array, shape in (("x", x, spec.input_shape), ("w", w, spec.weight_shape), ("b", b, spec.bias_shape)):
        got = None if array is None else tuple(np.shape(array))
        if got != shape:
            raise ValueError(f"{name}: shape {got} does not fit the spec, which needs {shape}")
