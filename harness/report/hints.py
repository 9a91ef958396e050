"""Where a failure's errors sit, in words: the hint a detail shows beside its heat map."""

from __future__ import annotations

import numpy as np

from ..spec import ConvSpec
from ..tolerance import where_errors_sit

PATTERN_HINTS = {
    "border": "on the border only: a padding convention",
    "everywhere": "on most positions: systematic (a layout, weight-order or kernel-flip mistake, or shifted windows)",
    "scattered": "in scattered places: precision (rounding beyond the bound, as a lower-precision accumulation "
                 "gives), or a mistake that touches some positions",
    "scattered-far": "in scattered places, far beyond what rounding explains: a mistake that touches some "
                     "positions, or values the framework never computed (uninitialised memory)",
    "none": "no element beyond the bound",
}

# The largest error/bound that precision alone explains: a float32 spec computed
# with TF32's 10-bit mantissa (eps 2**-10 against 2**-23) is off by 2**13 x its bound.
PRECISION_EXPLAINS = 2.0**13


def pattern_hint(pattern: str, ratio: float | None) -> str:
    """The words for a pattern of ``where_errors_sit``; scattered errors beyond what precision explains say so."""
    if pattern == "scattered" and (ratio is None or not ratio <= PRECISION_EXPLAINS):
        pattern = "scattered-far"
    return PATTERN_HINTS.get(pattern, "")


def error_map_hint(error_map: dict, spec: ConvSpec, ratio: float | None) -> str:
    """The hint for a record's ``error_map`` (|error| and bound per element, in the spec's layout)."""
    shape = error_map["shape"]
    pattern = where_errors_sit(np.reshape(error_map["abs"], shape), np.reshape(error_map["bound"], shape),
                               spec.channels_last)
    return pattern_hint(pattern, ratio)
