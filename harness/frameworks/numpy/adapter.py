"""NumPy in the working precision: the reference algorithm run in float32
(float16/bfloat16 rounded from it) or float64, a check of the dtype path.

What is special: it takes the spec itself, so every layout, padding,
padding mode and transposed spec is native, and its reproducer needs
convharness."""

from __future__ import annotations

import numpy as np

from ...calls import Ref, Step, Var, call
from ...spec import ConvSpec
from ...backends.base import Backend, no_autodiff

NO_AUTODIFF = no_autodiff(
    "no_autodiff",
    "the numpy backend is the reference algorithm written by hand: it has no automatic differentiation, so no "
    "gradient of its own to check (the float64 gradient reference is another computation)",
)


class NumPy(Backend):
    name = "numpy"
    module = "numpy"
    imports = ("import ml_dtypes", "from harness import ConvSpec", "from harness.reference import convolve")
    native_padding_modes = True
    gradient_refusals = (NO_AUTODIFF,)

    def namespace(self) -> dict:
        import ml_dtypes

        from ...reference import convolve

        return {"np": np, "ml_dtypes": ml_dtypes, "ConvSpec": ConvSpec, "convolve": convolve}

    def to_framework(self, spec: ConvSpec) -> tuple[Step, ...]:
        return (Step("spec", call("ConvSpec.from_json", spec.to_json())),)

    def to_numpy(self, spec: ConvSpec) -> tuple[Step, ...]:
        dtype = Ref("ml_dtypes.bfloat16") if spec.dtype == "bfloat16" else spec.dtype
        return (Step("y", call("y.astype", dtype)),)

    def convolution(self, spec: ConvSpec, layout: str, padding):
        working = "float64" if spec.dtype == "float64" else "float32"
        return (Step("y", call("convolve", Var("spec"), Var("x"), Var("w"), Var("b") if spec.bias else None,
                               dtype=working)),), 0

    def convolution_transpose(self, spec: ConvSpec, layout: str):
        return self.convolution(spec, layout, spec.padding)
