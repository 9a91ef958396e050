"""The layout of a rank and the shape a bias broadcasts to, against the layouts as written."""

import numpy as np
import pytest

from harness.layouts import bias_broadcast_shape
from harness.spec import layout_of


@pytest.mark.parametrize("rank,channels_last,layout", [
    (1, False, "NCW"), (1, True, "NWC"), (2, False, "NCHW"), (2, True, "NHWC"), (3, False, "NCDHW"),
    (3, True, "NDHWC"),
])
def test_the_layout_of_a_rank_puts_the_channels_first_or_last(rank, channels_last, layout):
    assert layout_of(rank, channels_last) == layout


@pytest.mark.parametrize("layout,shape", [
    ("NCW", (1, 3, 1)), ("NWC", (1, 1, 3)), ("NCHW", (1, 3, 1, 1)), ("NHWC", (1, 1, 1, 3)),
    ("NCDHW", (1, 3, 1, 1, 1)), ("NDHWC", (1, 1, 1, 1, 3)),
])
def test_the_bias_broadcast_shape_has_the_channels_on_the_layouts_channel_axis(layout, shape):
    assert bias_broadcast_shape(layout, 3) == shape


def test_a_bias_added_by_its_shape_lands_on_each_output_channel():
    y = np.zeros((2, 4, 5, 3))  # NHWC, three channels
    added = y + np.array([1.0, 2.0, 3.0]).reshape(bias_broadcast_shape("NHWC", 3))
    assert (added[..., 0] == 1).all() and (added[..., 1] == 2).all() and (added[..., 2] == 3).all()
