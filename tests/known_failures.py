"""Framework bugs the suite has found, each with its reason and the specs it covers.

A backend's mismatch on a covered spec is expected; everything else must
agree. An entry that no longer reproduces makes its test fail, so the list
cannot outlive the bug unnoticed.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Callable

from harness import ConvSpec, check
from harness.backends.tensorflow import REFUSALS


@dataclasses.dataclass(frozen=True)
class KnownFailure:
    backend: str
    name: str
    applies: Callable[[ConvSpec], bool]
    reason: str
    example: dict
    # whether this machine runs the code path with the bug for this spec
    present: Callable[[ConvSpec], bool] = lambda spec: True


@functools.cache
def tensorflow_runs_eigen(dtype: str) -> bool:
    """Whether TensorFlow runs its Eigen CPU kernels for ``dtype`` here. The Eigen
    Conv3D refuses dilation; oneDNN's, which TensorFlow turns on by default on some
    x86 CPUs (or with TF_ENABLE_ONEDNN_OPTS=1) and for some dtypes only, runs it.
    The probe is that refusal's own example in ``dtype``."""
    refusal = next(r for r in REFUSALS if r.name == "conv3d_dilation")
    probe = ConvSpec(**{**refusal.example, "dtype": dtype})
    return check(probe, backends=["tensorflow"]).outcomes[0].status == "unsupported"


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
        "conv1d/conv2d are correct. It is in the Eigen Conv3D kernel; where TensorFlow runs oneDNN's "
        "Conv3D instead (AVX-512 machines by default) the result is right.",
        dict(layout="NDHWC", in_channels=1, out_channels=1, spatial=(1, 3, 1), kernel=1, stride=(1, 3, 1),
             padding="same"),
        lambda spec: tensorflow_runs_eigen(spec.dtype),
    ),
    KnownFailure(
        "tensorflow",
        "onednn_single_output_column",
        lambda spec: (spec.rank >= 2 and spec.dtype == "float32" and spec.in_channels // spec.groups == 1
                      and spec.output_spatial[-1] == 1 and spec.kernel[-1] >= 2 and spec.stride[-1] >= 2
                      and spec.batch * math.prod(spec.output_spatial[:-1]) >= 2),
        "tf.nn.conv2d and tf.nn.conv3d in float32 on the oneDNN CPU path return wrong values (tensorflow-cpu "
        "2.21.0; errors of order 1, sometimes inf) or uninitialised memory (2.20.0, values near 1e16) when the "
        "last spatial axis collapses to one output column under a stride >= 2 with a kernel at least 2 wide, "
        "with one input channel per group and more than one output row (batch x other output positions). "
        "Not every such shape fails; NCHW/NHWC and NCDHW/NDHWC alike. 2.18.1 and 2.19.1 are right on the same "
        "machine, as is the Eigen path (TF_ENABLE_ONEDNN_OPTS=0). Found by the nox version-matrix sweep and "
        "the property tests.",
        dict(layout="NHWC", in_channels=1, out_channels=1, spatial=(2, 2), kernel=(1, 2), stride=(1, 3), batch=2),
        lambda spec: not tensorflow_runs_eigen(spec.dtype),
    ),
)


def known_failure(backend: str, spec: ConvSpec) -> KnownFailure | None:
    return next((k for k in KNOWN_FAILURES if k.backend == backend and k.applies(spec) and k.present(spec)), None)
