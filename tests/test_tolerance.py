"""Meta tests: the judgement against the bound can fail, and fails for the right reasons."""

import numpy as np
import pytest
from hypothesis import given

from harness import ConvSpec, make_inputs, reference
from harness.dtypes import eps, to_float64
from harness.reference import convolve, reference_and_magnitudes
from harness.strategies import conv_cases
from harness.tolerance import C, error_bound, judge, judge_against_reference

SPEC = ConvSpec(layout="NCHW", in_channels=3, out_channels=2, spatial=6, kernel=3, bias=True)


def setup():
    x, w, b = make_inputs(SPEC, seed=7)
    return reference(SPEC, x, w, b), error_bound(SPEC, x, w, b)


def test_the_bound_follows_the_stated_formula():
    x, w, b = make_inputs(SPEC, seed=7)
    k = 3 * 3 * 3
    # (|x| conv |w|) + |b| at output (0, 0, 0, 0), summed by hand over the window
    magnitude = np.abs(x[0, :, :3, :3].astype(float) * w[0].astype(float)).sum() + abs(float(b[0]))
    assert np.isclose(error_bound(SPEC, x, w, b)[0, 0, 0, 0], (C * k + 1) * (eps("float32") * magnitude + 2**-149))


def test_a_float16_result_among_subnormals_is_held_to_their_spacing():
    # one product, 0.04004 * 5.436e-05 = 2.18e-06: float16 subnormals there are 2**-24 = 6e-08 apart, so the
    # rounded result may be off by 3e-08, far more than eps * 2.18e-06 = 2e-09
    spec = ConvSpec(layout="NCW", in_channels=1, out_channels=1, spatial=1, kernel=1, dtype="float16")
    x, w = np.array([[[0.04004]]], np.float16), np.array([[[5.436e-05]]], np.float16)
    rounded = np.float16(float(x[0, 0, 0]) * float(w[0, 0, 0]))
    error = abs(float(rounded) - float(x[0, 0, 0]) * float(w[0, 0, 0]))
    assert error > eps("float16") * 3 * float(rounded)  # beyond the relative part of the bound alone
    assert error <= error_bound(spec, x, w)[0, 0, 0] <= 2**-20


def test_exact_result_passes_with_ratio_zero():
    expected, bound = setup()
    result = judge(expected, expected.copy(), bound)
    assert result.within_bound and result.ratio == 0 and result.max_abs_error == 0


def test_an_error_just_over_the_bound_fails_at_that_element():
    expected, bound = setup()
    got = expected.copy()
    got[0, 1, 2, 3] += 1.5 * bound[0, 1, 2, 3]
    result = judge(expected, got, bound)
    assert not result.within_bound
    assert result.worst_index == (0, 1, 2, 3)
    assert np.isclose(result.ratio, 1.5)


def test_an_error_within_the_bound_passes():
    expected, bound = setup()
    result = judge(expected, expected + 0.5 * bound, bound)
    assert result.within_bound and np.isclose(result.ratio, 0.5)


def test_nan_and_inf_fail():
    expected, bound = setup()
    for bad in (np.nan, np.inf):
        got = expected.copy()
        got[0, 0, 0, 0] = bad
        assert not judge(expected, got, bound).within_bound


def test_a_wrong_shape_fails():
    expected, bound = setup()
    assert not judge(expected, expected[:, :1], bound).within_bound


def test_the_status_names_a_pass_a_mismatch_and_a_shape_mismatch():
    expected, bound = setup()
    assert judge(expected, expected + 0.5 * bound, bound).status == "pass"
    assert judge(expected, expected + 2 * bound, bound).status == "mismatch"
    assert judge(expected, expected[:, :1], bound).status == "shape_mismatch"


def test_judged_against_the_reference_a_hand_computed_result_passes_and_one_off_by_one_fails():
    # one window of a 1x1x3 input under a 1x1x3 kernel plus bias: 1*4 + 2*5 + 3*6 + 0.5 = 32.5
    spec = ConvSpec(layout="NCW", in_channels=1, out_channels=1, spatial=3, kernel=3, bias=True, dtype="float64")
    x, w, b = np.array([[[1.0, 2.0, 3.0]]]), np.array([[[4.0, 5.0, 6.0]]]), np.array([0.5])
    assert judge_against_reference(spec, x, w, b, np.array([[[32.5]]])).within_bound
    missed = judge_against_reference(spec, x, w, b, np.array([[[31.5]]]))
    assert not missed.within_bound and missed.max_abs_error == 1.0


def test_any_error_where_the_bound_is_zero_fails():
    expected = np.zeros((1, 1, 2))
    bound = np.zeros((1, 1, 2))
    assert judge(expected, expected.copy(), bound).within_bound
    assert not judge(expected, expected + 1e-300, bound).within_bound


def test_half_precision_bound_is_wider_by_the_eps_ratio():
    x, w, b = make_inputs(SPEC, seed=1)
    wide = error_bound(SPEC.replace(dtype="bfloat16"), x, w, b)
    narrow = error_bound(SPEC, x, w, b)
    np.testing.assert_allclose(wide / narrow, eps("bfloat16") / eps("float32"))


def test_the_assertion_helpers_fail_beyond_their_bound():
    """Meta test: the helpers the other tests lean on can fail."""
    from helpers import assert_equivalent

    bound = np.full((2, 3), 0.5)
    a = np.zeros((2, 3))
    assert_equivalent(a, a + 0.99, bound, "within twice the bound")
    with pytest.raises(AssertionError, match=r"over: differ by 1.01 at \(0, 0\), 1.01 x the bound 1.0"):
        assert_equivalent(a, a + 1.01, bound, "over")
    with pytest.raises(AssertionError, match="shapes"):
        assert_equivalent(a, a.T, bound, "shape")


# -- TF32: float32 inputs rounded to 10 explicit mantissa bits before the products ---------------

def rounded_mantissa(a: np.ndarray, bits: int, nearest: bool) -> np.ndarray:
    """float32 values with only ``bits`` explicit mantissa bits kept, by hand on the bit
    pattern: truncated, or rounded to nearest (ties away from zero, as NVIDIA's cvt.rna)."""
    drop = 23 - bits
    raw = np.ascontiguousarray(a, np.float32).view(np.uint32)
    if nearest:
        raw = raw + np.uint32(1 << (drop - 1))
    return (raw & np.uint32((0xFFFFFFFF >> drop) << drop)).view(np.float32)


def test_rounding_by_hand_keeps_the_stated_bits():
    one_third = np.array([1 / 3], np.float32)  # 1.0101...01 x 2^-2 in binary
    assert rounded_mantissa(one_third, 10, nearest=False)[0] == np.float32(0b10101010101 / 2**12)
    assert rounded_mantissa(one_third, 10, nearest=True)[0] == np.float32(0b10101010101 / 2**12)  # next bit 0
    assert rounded_mantissa(np.array([1 + 2**-11], np.float32), 10, nearest=True)[0] == 1 + 2**-10  # tie: away


TF32_SPECS = [
    ConvSpec(layout="NCHW", batch=1, in_channels=64, out_channels=8, spatial=12, kernel=3, padding=1, bias=True),
    ConvSpec(layout="NHWC", batch=2, in_channels=16, out_channels=4, spatial=(7, 5), kernel=(3, 2), stride=2,
             groups=2, bias=True),
    ConvSpec(layout="NCW", batch=1, in_channels=128, out_channels=4, spatial=9, kernel=5, dilation=2, padding="same"),
]


def tf32_like(spec, x, w, b, bits=10, nearest=False):
    """TF32 as a GPU computes it: the inputs rounded by hand, each product and their sum
    exact, the result rounded to float32 once (the float32 accumulation's own error is
    the float32 bound's, checked everywhere else)."""
    xr, wr = rounded_mantissa(x, bits, nearest), rounded_mantissa(w, bits, nearest)
    return reference(spec.replace(dtype="float64"), xr, wr, b).astype(np.float32)


@pytest.mark.parametrize("spec", TF32_SPECS, ids=lambda s: s.describe().split(",")[0])
@pytest.mark.parametrize("nearest", [False, True], ids=["truncated", "nearest"])
def test_a_tf32_result_passes_the_tf32_bound(spec, nearest):
    x, w, b = make_inputs(spec, seed=3)
    result = judge(reference(spec, x, w, b), tf32_like(spec, x, w, b, nearest=nearest),
                     error_bound(spec, x, w, b, precision="tf32"))
    assert result.within_bound, result.ratio


def test_tf32_at_its_worst_passes_as_tf32_far_outside_float32_and_coarser_rounding_does_not():
    """Positive inputs, truncated: every product rounds down, the errors add up instead
    of cancelling. TF32 stays inside its bound and lies far outside float32's; 7
    explicit bits (bfloat16's) break the TF32 bound, so it is not vacuous."""
    small = ConvSpec(layout="NCHW", in_channels=8, out_channels=4, spatial=6, kernel=1, bias=True)  # 8 products
    for spec, outside in ((small, 100), (TF32_SPECS[0], 3)):  # float32's bound grows with the products: 576 here
        x, w, b = (np.abs(a) for a in make_inputs(spec, seed=3))
        expected = reference(spec, x, w, b)
        tf32 = tf32_like(spec, x, w, b)
        assert judge(expected, tf32, error_bound(spec, x, w, b, precision="tf32")).within_bound
        assert judge(expected, tf32, error_bound(spec, x, w, b)).ratio > outside
        coarse = tf32_like(spec, x, w, b, bits=7)
        assert not judge(expected, coarse, error_bound(spec, x, w, b, precision="tf32")).within_bound


def test_the_tf32_bound_follows_the_stated_formula():
    spec = ConvSpec(layout="NCW", in_channels=2, out_channels=1, spatial=1, kernel=1, bias=True)
    x, w, b = np.array([[[0.5], [-2.0]]], np.float32), np.array([[[3.0], [0.25]]], np.float32), np.array([1.0], "f4")
    products, u, k = 0.5 * 3.0 + 2.0 * 0.25, 2.0**-10, 2
    expected = (C * k + 1) * (eps("float32") * ((1 + u) ** 2 * products + 1.0) + 2**-149) + (2 * u + u * u) * products
    assert np.isclose(error_bound(spec, x, w, b, precision="tf32")[0, 0, 0], expected, rtol=1e-12)
    assert error_bound(spec, x, w, b, precision="float32")[0, 0, 0] == error_bound(spec, x, w, b)[0, 0, 0]
    with pytest.raises(ValueError, match="precision='tf16'"):
        error_bound(spec, x, w, b, precision="tf16")


@given(conv_cases())
def test_the_magnitudes_computed_with_the_reference_are_the_convolution_of_the_absolute_inputs(case):
    spec, seed = case
    x, w, b = make_inputs(spec, seed)
    y, magnitudes = reference_and_magnitudes(spec, x, w, b)
    assert np.array_equal(y, reference(spec, x, w, b))
    # the same sums, in float64: BLAS may round the last bit differently for operands at other addresses
    np.testing.assert_allclose(magnitudes, convolve(spec, np.abs(to_float64(x)), np.abs(to_float64(w))), rtol=1e-13)
    np.testing.assert_allclose(error_bound(spec, x, w, b, magnitudes=magnitudes), error_bound(spec, x, w, b), rtol=1e-13)
