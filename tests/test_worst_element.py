"""One worst element everywhere: the largest |error| / bound, the first in C order
among equals, for the judgement (checks, records), the reproducer's script and
the report's heat map."""

import numpy as np

from harness.report.heatmap import heat_map
from harness.reproducer import WORST_ELEMENT
from harness.tolerance import judge, worst_element

# by hand: the largest absolute error (3.0 at (0, 0, 0)) is 1.5 x its bound of 2.0, while the
# error of 0.5 at (0, 1, 1) is 5 x its bound of 0.1, and so is 1.0 at (0, 1, 2) against 0.2: a tie
EXPECTED = np.zeros((1, 2, 3))
GOT = np.array([[[3.0, 0.0, 0.0], [0.0, 0.5, 1.0]]])
BOUND = np.array([[[2.0, 1.0, 1.0], [1.0, 0.1, 0.2]]])


def test_the_worst_element_is_the_largest_error_over_bound_not_the_largest_error():
    result = judge(EXPECTED, GOT, BOUND)
    assert result.max_abs_error == 3.0 and np.unravel_index(np.argmax(GOT), GOT.shape) == (0, 0, 0)
    assert result.worst_index == (0, 1, 1) and result.ratio == 5.0


def test_a_tie_goes_to_the_first_index_in_c_order():
    assert worst_element(np.abs(GOT - EXPECTED), BOUND) == (0, 1, 1)
    assert worst_element(np.abs(GOT - EXPECTED)[..., ::-1], BOUND[..., ::-1]) == (0, 1, 0)  # (0, 1, 2) reversed


def test_an_error_where_the_bound_is_zero_is_worse_than_any_finite_ratio():
    bound = BOUND.copy()
    bound[0, 0, 1] = 0.0
    got = GOT.copy()
    got[0, 0, 1] = 1e-300
    assert worst_element(np.abs(got - EXPECTED), bound) == (0, 0, 1)


def test_the_reproducer_script_finds_the_same_worst_element_with_the_same_code():
    namespace = {"np": np}
    exec("\n".join(WORST_ELEMENT), namespace)
    error = namespace["absolute_error"](EXPECTED, GOT)
    assert namespace["worst_element"](error, BOUND) == judge(EXPECTED, GOT, BOUND).worst_index == (0, 1, 1)
    nan = GOT.copy()
    nan[0, 1, 0] = np.nan  # counts as an infinite error, in the script as in the harness
    assert namespace["worst_element"](namespace["absolute_error"](EXPECTED, nan), BOUND) == (0, 1, 0)
    assert judge(EXPECTED, nan, BOUND).worst_index == (0, 1, 0)


def test_the_heat_map_draws_the_slice_of_the_worst_element_first():
    # NCHW, two channels: channel 0 has the largest error (3.0, 1.5 x its bound), channel 1 the worst (5 x)
    errors = np.zeros((1, 2, 1, 2))
    errors[0, 0, 0, 0], errors[0, 1, 0, 1] = 3.0, 0.5
    bound = np.ones((1, 2, 1, 2))
    bound[0, 0, 0, 0], bound[0, 1, 0, 1] = 2.0, 0.1
    drawn = heat_map({"shape": [1, 2, 1, 2], "abs": errors.ravel().tolist(), "bound": bound.ravel().tolist()}, "NCHW")
    assert [s.label for s in drawn.slices] == ["n=0 c=1", "n=0 c=0"]
