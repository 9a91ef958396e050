"""The error bound each backend is held to, and the judgement of a result against it.

For an output element y = sum_i x_i*w_i (+ b) of K products, recursive
summation in a format with machine epsilon eps is off by at most about
K*eps/2 * sum_i |x_i*w_i| (Higham, Accuracy and Stability of Numerical
Algorithms, ch. 3). We allow

    bound = (C * K + 1) * (eps(dtype) * ((|x| conv |w|) + |b|) + tiny(dtype))

with C = 2: a factor 4 over that first-order bound, which leaves room for
blocked or reordered accumulation (im2col + GEMM, Winograd on small tiles),
and one more eps for rounding the result itself to the output dtype
(float16/bfloat16 kernels that accumulate in float32 round only there).
tiny is the dtype's smallest subnormal: a rounding below the normal range
is off by up to half of it, not by a relative eps (a float16 result of
2e-6 sits among subnormals 6e-8 apart). The inputs are exactly
representable in the dtype, so they add no error.

Unless the hardware rounds them first. An NVIDIA GPU's float32 convolutions
run by default on tensor cores as TF32 (PyTorch's cuDNN convs, JAX's default
precision, TensorFlow's TF32 switch): x and w are rounded to 10 explicit
mantissa bits before each product, which is then accumulated in float32.
A value rounded to p explicit bits is off by at most u = 2^-p of itself when
truncated (2^-(p+1) when rounded to nearest; the hardware is not documented
to do either, so the truncating u is taken). A product of two rounded inputs
is off by at most (2u + u^2) |x*w|, and its float32 accumulation is the
float32 bound on magnitudes up to (1 + u)^2 as large:

    bound_tf32 = (C*K + 1) * (eps * ((1+u)^2 (|x| conv |w|) + |b|) + tiny)
                 + (2u + u^2) * (|x| conv |w|)

with u = 2^-10. The float32 bound grows with the products K, the TF32 term
does not: a TF32 result lies hundreds of times outside the float32 bound
for a few products and a few times outside it for hundreds (for positive
inputs truncated, the worst case), and inside this one. The bias is added
in float32, not rounded.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .dtypes import eps, tiny, to_float64
from .layouts import bias_broadcast_shape, to_channels_first
from .reference import convolve, reference
from .spec import ConvSpec
from .status import Status

C = 2.0


# the relative error of an input rounded to a narrower format before the products (truncated)
INPUT_ROUNDING = {"tf32": 2.0 ** -10}


def error_bound(spec: ConvSpec, x, w, b=None, *, precision: str | None = None, magnitudes=None) -> np.ndarray:
    """Per-element bound on |backend - reference|, in ``spec.layout``. ``precision``
    "tf32" (float32 specs) allows for the inputs rounded to TF32 before the products.
    ``magnitudes`` is |x| conv |w| where already computed (``reference_and_magnitudes``)."""
    rounding = input_rounding(spec, precision)
    products = (convolve(spec, np.abs(to_float64(x)), np.abs(to_float64(w)))  # |x| conv |w|
                if magnitudes is None else magnitudes)
    bias = 0.0 if b is None else np.abs(to_float64(b)).reshape(bias_broadcast_shape(spec.layout, spec.out_channels))
    return sum_bound(spec.reduction_length, products, spec.dtype, rounding, added=bias)


def input_rounding(spec: ConvSpec, precision: str | None) -> float:
    """The relative rounding of the inputs before their products at ``precision``
    (None or the spec's dtype: none)."""
    if precision and precision not in INPUT_ROUNDING and precision != spec.dtype:
        raise ValueError(f"precision={precision!r}: must be one of {', '.join(['float32', *INPUT_ROUNDING])}")
    return INPUT_ROUNDING.get(precision, 0.0)


def sum_bound(length: int, products: np.ndarray, dtype: str, rounding: float = 0.0, *, added=0.0) -> np.ndarray:
    """The bound above for sums of at most ``length`` products, elementwise: ``products``
    the sums of the products' absolute values, ``added`` those of terms added unmultiplied
    (the bias), ``rounding`` the inputs' relative rounding before their products."""
    float_bound = (C * length + 1) * (eps(dtype) * (products + added) + tiny(dtype))
    if not rounding:
        return float_bound
    grown = (C * length + 1) * eps(dtype) * ((1 + rounding) ** 2 - 1) * products
    return float_bound + grown + (2 * rounding + rounding ** 2) * products


@dataclasses.dataclass(frozen=True)
class Judgement:
    """How far a result lies from the reference, against the bound."""

    shape_ok: bool
    max_abs_error: float
    max_rel_error: float
    ratio: float  # worst error / bound over all elements; <= 1 passes
    worst_index: tuple[int, ...] | None
    errors: np.ndarray | None = dataclasses.field(default=None, compare=False, repr=False)  # |got - expected|

    @property
    def within_bound(self) -> bool:
        """Whether the shapes agree and every element lies within its bound."""
        return self.shape_ok and self.ratio <= 1.0

    @property
    def status(self) -> Status:
        """The verdict: a pass, a mismatch, or a shape mismatch."""
        if not self.shape_ok:
            return Status.SHAPE_MISMATCH
        return Status.PASS if self.within_bound else Status.MISMATCH


def judge(expected: np.ndarray, got, bound: np.ndarray) -> Judgement:
    """Judge a result against the float64 reference ``expected`` under ``bound``.

    A NaN or infinity in ``got`` counts as an infinite error.
    """
    got = to_float64(got)
    if got.shape != expected.shape:
        return Judgement(False, float("inf"), float("inf"), float("inf"), None)
    if expected.size == 0:
        return Judgement(True, 0.0, 0.0, 0.0, None)
    error = absolute_error(expected, got)
    relative = relative_error(expected, error)
    worst = worst_element(error, bound)
    return Judgement(True, float(error.max()), float(relative.max()), float(error_ratios(error, bound)[worst]),
                     worst, error)


def judge_against_reference(spec: ConvSpec, x, w, b, got) -> Judgement:
    """Judge ``got`` against the float64 reference of ``spec`` on ``x, w, b`` under its error bound."""
    return judge(reference(spec, x, w, b), got, error_bound(spec, x, w, b))


def absolute_error(expected, got):
    """|got - expected| per element, infinite where ``got`` is NaN or infinite."""
    error = np.asarray(np.abs(got - expected))  # an array even for 0-d inputs, so that it can be assigned to
    error[~np.isfinite(got)] = np.inf
    return error


def relative_error(expected, error):
    """|error| / |expected| per element, 0 where there is no error."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(error == 0, 0.0, error / np.abs(expected))


def error_ratios(error, bound):
    """|error| / bound per element: 0 where there is no error, infinite where the bound is 0 and there is one."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(error == 0, 0.0, error / bound)


def worst_element(error, bound):
    """The worst element, the one definition that checks, records and reproducers use:
    the index of the largest |error| / bound, the first in C order among equals
    (``np.argmax``'s rule); None for an empty array."""
    ratios = error_ratios(error, bound)
    if not ratios.size:
        return None
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(ratios)), ratios.shape))


def where_errors_sit(errors: np.ndarray, bound: np.ndarray, channels_last: bool) -> str:
    """Where the elements beyond the bound lie: 'none', 'border' (a padding
    convention), 'everywhere' (a layout or weight-order mistake) or
    'scattered' (precision, or a partial mistake)."""
    over = np.asarray(errors) > np.asarray(bound)
    if not over.any():
        return "none"
    spatial = to_channels_first(over, channels_last)
    border = np.zeros(spatial.shape[2:], dtype=bool)
    for axis, size in enumerate(border.shape):
        index = [slice(None)] * border.ndim
        for edge in (0, size - 1):
            index[axis] = edge
            border[tuple(index)] = True
    if not (spatial & ~border).any() and not border.all():
        return "border"
    return "everywhere" if over.mean() > 0.5 else "scattered"
