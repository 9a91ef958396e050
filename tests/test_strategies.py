"""The public strategies: arguments checked when the strategy is built, bounds
and required features held by every draw, nothing filtered."""

from __future__ import annotations

import inspect

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import InvalidArgument

from harness.strategies import conv_cases, conv_specs


@pytest.mark.parametrize("kwargs,words", [
    (dict(groups=2), "groups=2: must be True or False"),
    (dict(dilation=3), "dilation=3: must be True or False"),
    (dict(bias="no"), "bias='no': must be True or False or None"),
    (dict(max_kernel=0), "max_kernel=0: must be an int >= 1"),
    (dict(max_stride=1.5), "max_stride=1.5: must be an int"),
    (dict(max_groups=True), "max_groups=True: must be an int"),
    (dict(max_rank=4), "max_rank=4: must be an int from 1 to 3"),
    (dict(ranks=(2,), max_rank=1), "max_rank=1: leaves none of the ranks"),
    (dict(dtypes="float32"), "dtypes='float32': must be a tuple"),
    (dict(require=("groups",), groups=False), "'groups' cannot be drawn with groups=False"),
    (dict(require=("stride",), max_stride=1), "'stride' cannot be drawn with max_stride < 2"),
    (dict(require=("bias",)), "'bias' is not one of ('groups', 'dilation', 'stride')"),
])
def test_a_wrong_argument_is_refused_when_the_strategy_is_built(kwargs, words):
    with pytest.raises(InvalidArgument, match=words.replace("(", r"\(").replace(")", r"\)")):
        conv_specs(**kwargs)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(conv_specs(require=("groups", "dilation", "stride"), max_kernel=2, max_stride=2, max_dilation=2,
                  max_groups=3, max_elements=64))
def test_every_draw_has_the_required_features_within_the_bounds(spec):
    assert 2 <= spec.groups <= 3 and max(spec.dilation) == 2 and max(spec.stride) == 2
    assert max(spec.kernel) <= 2 and max(spec.stride) <= 2 and max(spec.dilation) <= 2


@settings(max_examples=30)
@given(conv_specs(max_rank=2, groups=False, dilation=False, bias=True))
def test_groups_and_dilation_can_be_kept_at_one(spec):
    assert spec.rank <= 2 and spec.groups == 1 and max(spec.dilation) == 1 and spec.bias


def test_conv_cases_shows_the_parameters_of_conv_specs():
    assert list(inspect.signature(conv_cases).parameters) == list(inspect.signature(conv_specs).parameters)
    with pytest.raises(InvalidArgument, match="groups=2"):
        conv_cases(groups=2)
