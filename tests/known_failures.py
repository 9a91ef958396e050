"""Framework bugs the suite has found, each with its reason and the specs it covers.

A backend's mismatch on a covered spec is expected; everything else must
agree. An entry that no longer reproduces makes its test fail, so the list
cannot outlive the bug unnoticed.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

from harness import ConvSpec


@dataclasses.dataclass(frozen=True)
class KnownFailure:
    backend: str
    name: str
    applies: Callable[[ConvSpec], bool]
    reason: str
    example: dict


def _unclamped_same_total(spec: ConvSpec) -> list[int]:
    return [
        (math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n
        for n, k, s, d in zip(spec.spatial, spec.kernel, spec.stride, spec.dilation)
    ]


KNOWN_FAILURES = (
    KnownFailure(
        "tensorflow",
        "conv3d_same_negative_total_padding",
        lambda spec: spec.rank == 3 and spec.padding == "same" and min(_unclamped_same_total(spec)) <= -2,
        "tf.nn.conv3d with 'SAME' shifts the windows when the unclamped SAME padding "
        "(ceil(n/s)-1)*s + (k-1)*d + 1 - n is -2 or less (stride larger than kernel and input): "
        "size 3, kernel 1, stride 3 reads x[1] instead of x[0]. Found by this suite on tensorflow-cpu 2.21.0; "
        "conv1d/conv2d are correct.",
        dict(layout="NDHWC", in_channels=1, out_channels=1, spatial=(1, 3, 1), kernel=1, stride=(1, 3, 1),
             padding="same"),
    ),
)


def known_failure(backend: str, spec: ConvSpec) -> KnownFailure | None:
    return next((k for k in KNOWN_FAILURES if k.backend == backend and k.applies(spec)), None)
