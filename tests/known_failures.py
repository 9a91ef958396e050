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
from harness.frameworks.tensorflow.adapter import runs_eigen
from harness.devices import cpu_flags
from harness.backends import available_backends, get_backend


@dataclasses.dataclass(frozen=True)
class KnownFailure:
    backends: tuple[str, ...]
    name: str
    applies: Callable[[ConvSpec], bool]
    reason: str
    example: dict
    # whether this machine runs the code path with the bug for this spec
    present: Callable[[ConvSpec], bool] = lambda spec: True
    quantity: str = "y"  # what the bug breaks: the output y, or one gradient (dx, dw, db) only
    # the most seeds of the example tried before the entry counts as stale: 1 for a deterministic
    # bug; an intermittent one is tried until a seed shows it
    tries: int = 1


# oneDNN's avx512_core ISA: the kernels it picks on a CPU with these flags. On an AVX2-only
# CPU with oneDNN forced on, onednn_single_output_column does not reproduce.
AVX512_CORE = frozenset({"avx512f", "avx512bw", "avx512vl", "avx512dq"})


def tensorflow_runs_onednn_avx512(dtype: str) -> bool:
    """Whether TensorFlow computes ``dtype`` convolutions with oneDNN's AVX-512 kernels here."""
    return not runs_eigen(dtype) and AVX512_CORE <= cpu_flags()


def torch_runs_onednn_bf16(isa: str) -> bool:
    """Whether PyTorch's bfloat16 convolutions here take oneDNN's native path for
    ``isa``, a CPU flag: "amx_bf16" (AMX tiles) or "avx512_bf16" (without AMX);
    that is, the CPU has that flag (and AMX or not, as said) and PyTorch's oneDNN
    (mkldnn) convolutions are on."""
    import torch

    flags = cpu_flags()
    isa_here = "amx_bf16" if "amx_bf16" in flags else ("avx512_bf16" if "avx512_bf16" in flags else None)
    return isa_here == isa and torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled


def _unclamped_same_total(spec: ConvSpec) -> list[int]:
    return [
        (math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n
        for n, k, s, d in zip(spec.spatial, spec.kernel, spec.stride, spec.dilation)
    ]


def _runs_same(spec: ConvSpec) -> bool:
    """The adapter passes 'SAME' to the framework: no padding mode fills a pad first."""
    return spec.padding == "same" and (spec.padding_mode == "zeros" or not any(map(any, spec.explicit_padding)))


def _padding_only_tap(spec: ConvSpec) -> bool:
    """A kernel tap that reads only padding at every output position, on some axis."""
    for n, k, s, d, (before, _), out in zip(spec.spatial, spec.kernel, spec.stride, spec.dilation,
                                            spec.explicit_padding, spec.output_spatial):
        if any(all(not 0 <= o * s + t * d - before < n for o in range(out)) for t in range(k)):
            return True
    return False


def _single_output_column(spec: ConvSpec) -> bool:
    """The last spatial axis collapses to one output column under a stride >= 2 with a kernel >= 2."""
    return spec.output_spatial[-1] == 1 and spec.kernel[-1] >= 2 and spec.stride[-1] >= 2


KNOWN_FAILURES = (
    KnownFailure(
        ("tensorflow",),
        "onednn_bfloat16_weight_gradient_of_a_padding_only_tap",
        lambda spec: spec.dtype == "bfloat16" and not spec.transposed and _padding_only_tap(spec),
        "tensorflow-cpu 2.21.0 on the oneDNN CPU path: the bfloat16 weight gradient (tape.gradient's dw) of a "
        "conv whose kernel has a tap that reads only padding is uninitialised memory for that tap (values of "
        "1e19 to 1e54) in about half the runs: NCW 1x2x1, kernel 2, stride 2, 'SAME' (one pad at the end). dx and "
        "y are right, and so is the Eigen path (TF_ENABLE_ONEDNN_OPTS=0), PyTorch and JAX. The share of wrong "
        "runs differs from process to process: 48, 64 and 67 of 100 in three, 1 of 12 and 0 of 12 in others. "
        "Found by the "
        "gradient identity tests' random draws on an AVX-512 AMD EPYC; the extent is not known, so every "
        "bfloat16 spec with such a tap is covered.",
        dict(layout="NCW", in_channels=2, out_channels=1, spatial=1, kernel=2, stride=2, padding="same",
             dtype="bfloat16"),
        lambda spec: tensorflow_runs_onednn_avx512(spec.dtype),
        quantity="dw",
        tries=200,
    ),
    KnownFailure(
        ("keras.tensorflow",),
        "keras_tensorflow_channels_first_bias",
        lambda spec: not spec.channels_last and spec.bias and not spec.transposed,
        "keras 3.15.1 on tensorflow-cpu 2.21.0: Conv1D/2D/3D with data_format='channels_first' and a bias return "
        "wrong values (float32: errors of order 1, 1e5 to 1e6 times the bound) when the stride is 2 in shapes such "
        "as NCW 2x2x7, kernel 2, 'valid' and NCHW 2x2x5x6, kernel 1x3, 'same'; grouped convs fail at stride 1 "
        "'same' too. The same layers without a bias are right, and so are channels_last, tf.nn with the same "
        "arguments, and Keras on JAX and PyTorch. Found by a sweep of the Keras backends and the shape test; the "
        "extent is not known, so every channels-first spec with a bias is covered.",
        dict(layout="NCW", batch=2, in_channels=2, out_channels=3, spatial=7, kernel=2, stride=2, bias=True),
        # On TensorFlow's Eigen kernels channels-first conv1d/2d are refused (a declared refusal), while
        # Keras compiles channels-first conv3d with XLA, where the bug shows as on oneDNN's path.
        lambda spec: spec.rank == 3 or not runs_eigen(spec.dtype),
    ),
    KnownFailure(
        ("tensorflow",),
        "conv3d_same_negative_total_padding",
        lambda spec: (spec.rank == 3 and _runs_same(spec) and not spec.transposed
                      and min(_unclamped_same_total(spec)) <= -2),
        "tf.nn.conv3d with 'SAME' shifts the windows when the unclamped SAME padding "
        "(ceil(n/s)-1)*s + (k-1)*d + 1 - n is -2 or less (stride larger than kernel and input): "
        "size 3, kernel 1, stride 3 reads x[1] instead of x[0]. Found by this suite on tensorflow-cpu 2.21.0; "
        "conv1d/conv2d are correct. It is in the Eigen Conv3D kernel; where TensorFlow runs oneDNN's "
        "Conv3D instead (AVX-512 machines by default) the result is right.",
        dict(layout="NDHWC", in_channels=1, out_channels=1, spatial=(1, 3, 1), kernel=1, stride=(1, 3, 1),
             padding="same"),
        lambda spec: runs_eigen(spec.dtype),
    ),
    KnownFailure(
        ("tensorflow",),
        "onednn_single_output_column",
        lambda spec: (spec.rank >= 2 and spec.dtype in ("float32", "bfloat16") and spec.in_channels // spec.groups == 1
                      and not spec.transposed and _single_output_column(spec)
                      and spec.batch * math.prod(spec.output_spatial[:-1]) >= 2),
        "tf.nn.conv2d and tf.nn.conv3d in float32 and bfloat16 (float16 runs Eigen's kernels) on the oneDNN CPU "
        "path return wrong values (tensorflow-cpu "
        "2.21.0; errors of order 1, sometimes inf) or uninitialised memory (2.20.0, values near 1e16) when the "
        "last spatial axis collapses to one output column under a stride >= 2 with a kernel at least 2 wide, "
        "with one input channel per group and more than one output row (batch x other output positions). "
        "Not every such shape fails; NCHW/NHWC and NCDHW/NDHWC alike. 2.18.1 and 2.19.1 are right on the same "
        "machine, as is the Eigen path (TF_ENABLE_ONEDNN_OPTS=0). Found by the nox version-matrix sweep and "
        "the property tests. Seen on Intel and on an AVX-512 AMD EPYC (oneDNN's avx512_core kernels); not on "
        "an AVX2-only AMD EPYC with oneDNN forced on.",
        dict(layout="NHWC", in_channels=1, out_channels=1, spatial=(2, 2), kernel=(1, 2), stride=(1, 3), batch=2),
        lambda spec: tensorflow_runs_onednn_avx512(spec.dtype),
    ),
    KnownFailure(
        ("torch", "torch.nn"),
        "onednn_bfloat16_channels_last_single_output_column",
        lambda spec: (spec.dtype == "bfloat16" and spec.layout == "NHWC" and spec.in_channels // spec.groups == 1
                      and not spec.transposed and _single_output_column(spec)
                      and spec.batch * math.prod(spec.output_spatial[:-1]) >= 2),
        "torch 2.13.0+cpu on a CPU with avx512_bf16 but no AMX: bfloat16 conv2d through oneDNN in channels-last "
        "memory (the adapter permutes an NHWC input, so PyTorch keeps its strides) returns wrong values, from "
        "18 times the bound to 1e37 (uninitialised memory), when the last spatial axis collapses to one output "
        "column under a stride >= 2 with a kernel >= 2, with one input channel per group (groups 1, 2 or 4, any "
        "channel multiplier) and more than one output row: TensorFlow's oneDNN bug of the same shapes. Not every "
        "such shape fails (166 to 199 of 4320 in a grid), and which ones depends on the thread count; NCHW, and "
        "NDHWC in the shapes tried, are right. Found by a sweep, a user-style test run and grids around them.",
        dict(layout="NHWC", in_channels=1, out_channels=1, spatial=(7, 4), kernel=(4, 4), stride=(1, 2),
             dtype="bfloat16"),
        lambda spec: torch_runs_onednn_bf16("avx512_bf16"),
    ),
    KnownFailure(
        ("torch", "torch.nn"),
        "onednn_amx_bfloat16",
        lambda spec: spec.dtype == "bfloat16",
        "torch 2.13.0+cpu on a CPU with AMX-BF16 (amx_bf16, amx_tile, avx512_bf16 in its flags): bfloat16 "
        "conv2d and conv3d through oneDNN return wrong values, off by 1 to 1e33 (uninitialised memory on the "
        "first call of a shape), NCHW and NCDHW, grouped or not; every case reported has a last spatial axis "
        "that collapses to one output column, but the extent is not known, so every bfloat16 spec is covered "
        "there. Under torch.backends.mkldnn.flags(enabled=False) the same calls are right. conv1d is covered "
        "too: at::_convolution runs it as a 2-D convolution (view1d_as_2d). Reported from a fresh clone's test "
        "run on such a machine; the example is the case that failed there (it passes on avx512_bf16 without AMX).",
        dict(layout="NCHW", in_channels=4, out_channels=2, spatial=(5, 5), kernel=(1, 3), batch=1, stride=(1, 2),
             dilation=(1, 2), groups=2, dtype="bfloat16"),
        lambda spec: torch_runs_onednn_bf16("amx_bf16"),
    ),
)


def declared_crashes() -> tuple[KnownFailure, ...]:
    """The crashes the installed backends declare (``Backend.crashes``, harness data:
    ``check`` runs such a backend in a child process), each a known failure of the
    backends that declare it."""
    declared = [(name, crash) for name in available_backends() + available_backends(layers=True)
                for crash in get_backend(name).crashes]
    crashes = {crash.name: crash for _, crash in declared}
    return tuple(KnownFailure(tuple(name for name, c in declared if c.name == key), crash.name, crash.applies,
                              crash.reason, crash.example) for key, crash in crashes.items())


DECLARED_CRASHES = declared_crashes()


def known_failure(backend: str, spec: ConvSpec, gradients: bool = False) -> KnownFailure | None:
    """The known bug of ``backend`` on ``spec`` on this machine: of its output, or with
    ``gradients`` of its output or a gradient."""
    return next((k for k in KNOWN_FAILURES + DECLARED_CRASHES
                 if backend in k.backends and (gradients or k.quantity == "y") and k.applies(spec)
                 and k.present(spec)), None)
