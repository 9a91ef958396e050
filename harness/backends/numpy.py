"""NumPy in the working precision: the reference algorithm run in float32
(float16/bfloat16 rounded from it) or float64, a check of the dtype path."""

from __future__ import annotations

import numpy as np

from ..dtypes import numpy_dtype
from ..reference import convolve
from ..spec import ConvSpec
from .base import Backend, Call


class NumPy(Backend):
    name = "numpy"
    module = "numpy"

    def _run(self, spec: ConvSpec, x, w, b) -> tuple[np.ndarray, Call]:
        working = np.float64 if spec.dtype == "float64" else np.float32
        y = convolve(spec, x, w, b, dtype=working).astype(numpy_dtype(spec.dtype))
        code = f"y = harness.reference.convolve(spec, x, w, b, dtype=np.{working.__name__}).astype({spec.dtype!r})"
        return y, Call(code, native=code)
