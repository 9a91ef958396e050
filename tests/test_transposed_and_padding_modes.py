"""Transposed convolutions and padding modes against outputs computed by hand
(in the comments), in the reference and in every backend.

A transposed conv adds x[i] * w[k] at i*stride + k*dilation of its full output
(PyTorch's and ONNX's ConvTranspose); padding crops that, output_padding adds
positions at the end. Integer data in float32: every product and sum is exact.
"""

import numpy as np
import pytest

from harness import ConvSpec, Unsupported, reference, run_backend
from helpers import FRAMEWORK_BACKENDS, IMPORTS_TENSORFLOW

pytestmark = IMPORTS_TENSORFLOW


def case(x, w, expected, **fields):
    """x (C, *spatial) and w as the spec stores them, one batch, channels first."""
    x, w = np.asarray(x, np.float32), np.asarray(w, np.float32)
    rank = x.ndim - 1
    transposed = fields.get("transposed", False)
    out_channels = w.shape[1] * fields.get("groups", 1) if transposed else w.shape[0]
    spec = ConvSpec(layout=("NCW", "NCHW", "NCDHW")[rank - 1], in_channels=x.shape[0], out_channels=out_channels,
                    spatial=x.shape[1:], kernel=w.shape[2:], **fields)
    return spec, x[None], w, np.asarray(expected, np.float32)[None]


CASES = {
    # full output, length (3-1)*2 + 2 = 6: x[i]*w[k] at 2i + k: [1, 10, 2, 20, 3, 30]; output_padding adds a 0
    "stride 2, output_padding 1": case([[1, 2, 3]], [[[1, 10]]], [[1, 10, 2, 20, 3, 30, 0]],
                                       transposed=True, stride=2, output_padding=1),
    # the crop (1, 1) leaves [10, 2, 20, 3]; output_padding 1 selects the computed 30 that follows
    "padding 1 with output_padding 1 selects a computed value": case(
        [[1, 2, 3]], [[[1, 10]]], [[10, 2, 20, 3, 30]], transposed=True, stride=2, padding=1, output_padding=1),
    # full output of [1, 2, 3] with w = [1, 1, 1], stride 2: [1, 1, 1+2, 2, 2+3, 3, 3]; crop 2 before, 1 after
    "asymmetric crop (2, 1)": case([[1, 2, 3]], [[[1, 1, 1]]], [[3, 2, 5, 3]],
                                   transposed=True, stride=2, padding=((2, 1),)),
    # 'same': output 3*2 = 6 of the 7, crop (0, 1): TensorFlow's conv1d_transpose 'SAME' gives this
    "same, stride 2": case([[1, 2, 3]], [[[1, 1, 1]]], [[1, 1, 3, 2, 5, 3]],
                           transposed=True, stride=2, padding="same"),
    # 'same' with stride 3 > kernel 1: output 9 > full 7, the extra positions at the end
    "same, stride larger than the kernel": case([[1, 2, 3]], [[[1]]], [[1, 0, 0, 2, 0, 0, 3, 0, 0]],
                                                 transposed=True, stride=3, padding="same"),
    # x[i]*w[k] at i + 2k: y0 = 1, y1 = 2, y2 = 3 + 10, y3 = 20, y4 = 30
    "dilation 2": case([[1, 2, 3]], [[[1, 10]]], [[1, 2, 13, 20, 30]], transposed=True, dilation=2),
    # group 0 (x0) feeds y0 = x0, y1 = 10*x0; group 1 (x1) feeds y2 = 100*x1, y3 = 1000*x1; stride 2 spaces them
    "groups 2, stride 2": case([[1, 2], [3, 4]], [[[1], [10]], [[100], [1000]]],
                               [[1, 0, 2], [10, 0, 20], [300, 0, 400], [3000, 0, 4000]],
                               transposed=True, groups=2, stride=2),
    # each x[i, j] writes x[i, j] * w as a 2x2 block at (2i, 2j); output_padding 1 adds a zero row and column
    "2-D stride 2, output_padding 1": case(
        [[[1, 2], [3, 4]]], [[[[1, 10], [100, 1000]]]],
        [[[1, 10, 2, 20, 0], [100, 1000, 200, 2000, 0], [3, 30, 4, 40, 0], [300, 3000, 400, 4000, 0],
          [0, 0, 0, 0, 0]]],
        transposed=True, stride=2, output_padding=1),
    # a 1x1 kernel of weight 1 returns the padded input: [1 2 3 4] padded (2, 1)
    "reflect": case([[1, 2, 3, 4]], [[[1]]], [[3, 2, 1, 2, 3, 4, 3]], padding=((2, 1),), padding_mode="reflect"),
    "replicate": case([[1, 2, 3, 4]], [[[1]]], [[1, 1, 1, 2, 3, 4, 4]], padding=((2, 1),), padding_mode="replicate"),
    "circular": case([[1, 2, 3, 4]], [[[1]]], [[3, 4, 1, 2, 3, 4, 1]], padding=((2, 1),), padding_mode="circular"),
    # 2-D reflect by 1: rows and columns both read 1, 0, 1, 2, 1
    "2-D reflect": case([[[1, 2, 3], [4, 5, 6], [7, 8, 9]]], [[[[1]]]],
                        [[[5, 4, 5, 6, 5], [2, 1, 2, 3, 2], [5, 4, 5, 6, 5], [8, 7, 8, 9, 8], [5, 4, 5, 6, 5]]],
                        padding=1, padding_mode="reflect"),
    # 2-D replicate by 1 with a 2x2 sum: the corners repeat
    "2-D replicate, 2x2 sum": case([[[1, 2], [3, 4]]], [[[[1, 1], [1, 1]]]],
                                   [[[4, 6, 8], [8, 10, 12], [12, 14, 16]]], padding=1, padding_mode="replicate"),
}


@pytest.mark.parametrize("name", CASES)
def test_reference_gives_the_hand_computed_output(name):
    spec, x, w, expected = CASES[name]
    assert spec.output_shape == expected.shape
    np.testing.assert_array_equal(reference(spec, x, w), expected)


@pytest.mark.parametrize("backend", ("numpy", *FRAMEWORK_BACKENDS))
@pytest.mark.parametrize("name", CASES)
def test_backend_gives_the_hand_computed_output(backend, name):
    spec, x, w, expected = CASES[name]
    try:
        got = run_backend(backend, spec, x, w)
    except Unsupported as refused:
        pytest.skip(f"declared refusal: {refused}")
    np.testing.assert_array_equal(got, expected, err_msg=f"{backend}, {name}")


@pytest.mark.parametrize("backend", ("numpy", *FRAMEWORK_BACKENDS))
def test_channels_last_transposed_output_is_the_channels_first_one_moved(backend):
    spec, x, w, expected = CASES["groups 2, stride 2"]
    last = spec.replace(layout="NWC")
    try:
        got = run_backend(backend, last, np.moveaxis(x, 1, -1), w)
    except Unsupported as refused:
        pytest.skip(f"declared refusal: {refused}")
    np.testing.assert_array_equal(got, np.moveaxis(expected, 1, -1))


def test_transposed_output_length_is_the_pytorch_formula():
    # (in-1)*s + (k-1)*d + 1 - begin - end + output_padding, per axis
    spec = ConvSpec(layout="NCHW", in_channels=2, out_channels=4, spatial=(5, 7), kernel=(3, 2), stride=(2, 3),
                    dilation=(2, 1), padding=((1, 2), (0, 1)), output_padding=(1, 2), transposed=True)
    assert spec.output_spatial == (4 * 2 + 2 * 2 + 1 - 3 + 1, 6 * 3 + 1 + 1 - 1 + 2)
    assert spec.weight_shape == (2, 4, 3, 2)


def test_same_transposed_output_is_input_times_stride():
    for size, kernel, stride, dilation in [(3, 3, 2, 1), (4, 2, 3, 1), (5, 3, 2, 2), (1, 1, 4, 1)]:
        spec = ConvSpec(layout="NCW", in_channels=1, out_channels=1, spatial=size, kernel=kernel, stride=stride,
                        dilation=dilation, padding="same", transposed=True)
        assert spec.output_spatial == (size * stride,)


def test_new_fields_round_trip_through_json_and_stay_out_of_forward_json():
    spec = ConvSpec(layout="NCHW", in_channels=2, out_channels=4, spatial=(3, 4), kernel=3, stride=2, padding=1,
                    output_padding=(1, 0), transposed=True, groups=2)
    assert ConvSpec.from_json(spec.to_json()) == spec
    moded = ConvSpec(layout="NWC", in_channels=1, out_channels=1, spatial=5, kernel=3, padding=2,
                     padding_mode="circular")
    assert ConvSpec.from_json(moded.to_json()) == moded
    forward = ConvSpec(layout="NCW", in_channels=1, out_channels=1, spatial=5, kernel=3)
    assert not {"transposed", "output_padding", "padding_mode"} & set(forward.to_dict())


def test_describe_names_the_transposed_conv_its_output_padding_and_the_padding_mode():
    spec, *_ = CASES["stride 2, output_padding 1"]
    assert spec.describe().startswith("conv1d_transpose NCW") and "output_padding 1" in spec.describe()
    spec, *_ = CASES["reflect"]
    assert "padding explicit 2/1 (reflect)" in spec.describe()
