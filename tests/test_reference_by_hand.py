"""The reference against small cases computed by hand (in the comments)."""

import numpy as np
import pytest

from harness import ConvSpec, reference
from harness.spec import same_padding


def conv1d(x, w, **fields):
    """NCW with one batch and one channel unless fields say otherwise."""
    x, w = np.asarray(x, float), np.asarray(w, float)
    spec = ConvSpec(layout="NCW", in_channels=x.shape[0], out_channels=w.shape[0],
                    spatial=x.shape[-1], kernel=w.shape[-1], **fields)
    return reference(spec, x[None], w)[0]


def test_asymmetric_padding():
    # xpad = [0, 1, 2, 3, 4, 0, 0]; y[i] = xpad[i] + 10*xpad[i+1]
    y = conv1d([[1, 2, 3, 4]], [[[1, 10]]], padding=((1, 2),))
    np.testing.assert_array_equal(y, [[10, 21, 32, 43, 4, 0]])


def test_dilation():
    # y[i] = x[i] + 10*x[i+2]
    y = conv1d([[1, 2, 3, 4, 5]], [[[1, 10]]], dilation=2)
    np.testing.assert_array_equal(y, [[31, 42, 53]])


def test_stride():
    # windows start at 0, 2: [1,2,3] . [1,0,-1] = -2, [3,4,5] . [1,0,-1] = -2
    y = conv1d([[1, 2, 3, 4, 5]], [[[1, 0, -1]]], stride=2)
    np.testing.assert_array_equal(y, [[-2, -2]])


def test_groups_do_not_mix_channels():
    # group 0: y0 = 2*x0; group 1: y1 = 5*x1
    y = conv1d([[1, 2], [3, 4]], [[[2]], [[5]]], groups=2)
    np.testing.assert_array_equal(y, [[2, 4], [15, 20]])


def test_grouped_with_two_channels_per_group():
    # in 4 -> out 2, groups 2: y0 = x0 + 10*x1, y1 = 100*x2 + 1000*x3
    x = [[1], [2], [3], [4]]
    w = [[[1], [10]], [[100], [1000]]]
    np.testing.assert_array_equal(conv1d(x, w, groups=2), [[21], [4300]])


def test_causal_pads_before_only():
    # xpad = [0, 1, 2, 3]; y[i] = xpad[i] + 10*xpad[i+1]
    np.testing.assert_array_equal(conv1d([[1, 2, 3]], [[[1, 10]]], padding="causal"), [[10, 21, 32]])


def test_causal_with_dilation_pads_dilated_extent():
    # pad (2-1)*3 = 3 before: xpad = [0, 0, 0, 1, 2, 3, 4]; y[i] = xpad[i] + 10*xpad[i+3]
    np.testing.assert_array_equal(
        conv1d([[1, 2, 3, 4]], [[[1, 10]]], padding="causal", dilation=3), [[10, 20, 30, 41]]
    )


def test_same_with_even_kernel_puts_the_odd_pad_at_the_end():
    # total pad 1 -> (0, 1): xpad = [1, 2, 3, 4, 0]
    np.testing.assert_array_equal(conv1d([[1, 2, 3, 4]], [[[1, 10]]], padding="same"), [[21, 32, 43, 4]])


@pytest.mark.parametrize(
    "n,k,s,d,pads",
    [
        (5, 3, 2, 1, (1, 1)),  # out 3: total (3-1)*2 + 3 - 5 = 2
        (6, 3, 2, 1, (0, 1)),  # out 3: total (3-1)*2 + 3 - 6 = 1
        (8, 3, 1, 2, (2, 2)),  # extent 5: total 4, sized from the dilated kernel
        (7, 4, 3, 1, (1, 2)),  # out 3: total 6 + 4 - 7 = 3
        (4, 1, 3, 1, (0, 0)),  # out 2: total 3 + 1 - 4 = 0
        (3, 2, 5, 1, (0, 0)),  # out 1: total max(0 + 2 - 3, 0) = 0
    ],
)
def test_same_padding_formula(n, k, s, d, pads):
    assert same_padding(n, k, s, d) == pads
    spec = ConvSpec(layout="NCW", in_channels=1, out_channels=1, spatial=n, kernel=k,
                    stride=s, dilation=d, padding="same")
    assert spec.output_spatial == (-(-n // s),)


def test_two_dimensional_asymmetric_padding_and_channels_last():
    # x is 2x2 [[1,2],[3,4]], kernel 2x2 of ones, pad top 1, left 0, bottom 0, right 1:
    # xpad = [[0,0,0],[1,2,0],[3,4,0]] -> sums of 2x2 windows [[3,2],[10,6]]
    x = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 2, 1)
    spec = ConvSpec(layout="NHWC", in_channels=1, out_channels=1, spatial=2, kernel=2,
                    padding=((1, 0), (0, 1)))
    y = reference(spec, x, np.ones((1, 1, 2, 2)))
    np.testing.assert_array_equal(y.reshape(2, 2), [[3, 2], [10, 6]])


def test_bias_is_added_per_output_channel():
    spec = ConvSpec(layout="NCW", in_channels=1, out_channels=2, spatial=2, kernel=1, bias=True)
    y = reference(spec, np.array([[[1.0, 2.0]]]), np.array([[[1.0]], [[3.0]]]), np.array([10.0, 20.0]))
    np.testing.assert_array_equal(y, [[[11, 12], [23, 26]]])
