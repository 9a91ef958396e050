"""NumPy in the working precision: the reference algorithm run in float32
(float16/bfloat16 rounded from it) or float64, a check of the dtype path."""

from __future__ import annotations

import numpy as np

from ..dtypes import numpy_dtype
from ..reference import convolve
from ..spec import ConvSpec
from .base import Backend, Script


class NumPy(Backend):
    name = "numpy"
    module = "numpy"

    imports = ("import harness.reference",)

    def _run(self, spec: ConvSpec, x, w, b, script: Script) -> np.ndarray:
        working = np.float64 if spec.dtype == "float64" else np.float32
        script.conv(f"y = harness.reference.convolve(spec, x, w, b, dtype=np.{working.__name__})"
                    f".astype({spec.dtype!r})")
        return convolve(spec, x, w, b, dtype=working).astype(numpy_dtype(spec.dtype))
