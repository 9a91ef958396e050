"""Meta tests: the comparison can fail, and fails for the right reasons."""

import numpy as np
import pytest

from harness import ConvSpec, make_inputs, reference
from harness.dtypes import eps
from harness.tolerance import C, compare, error_bound

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
    result = compare(expected, expected.copy(), bound)
    assert result.within_bound and result.ratio == 0 and result.max_abs_error == 0


def test_an_error_just_over_the_bound_fails_at_that_element():
    expected, bound = setup()
    got = expected.copy()
    got[0, 1, 2, 3] += 1.5 * bound[0, 1, 2, 3]
    result = compare(expected, got, bound)
    assert not result.within_bound
    assert result.worst_index == (0, 1, 2, 3)
    assert np.isclose(result.ratio, 1.5)


def test_an_error_within_the_bound_passes():
    expected, bound = setup()
    result = compare(expected, expected + 0.5 * bound, bound)
    assert result.within_bound and np.isclose(result.ratio, 0.5)


def test_nan_and_inf_fail():
    expected, bound = setup()
    for bad in (np.nan, np.inf):
        got = expected.copy()
        got[0, 0, 0, 0] = bad
        assert not compare(expected, got, bound).within_bound


def test_a_wrong_shape_fails():
    expected, bound = setup()
    assert not compare(expected, expected[:, :1], bound).within_bound


def test_any_error_where_the_bound_is_zero_fails():
    expected = np.zeros((1, 1, 2))
    bound = np.zeros((1, 1, 2))
    assert compare(expected, expected.copy(), bound).within_bound
    assert not compare(expected, expected + 1e-300, bound).within_bound


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
