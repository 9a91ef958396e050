"""Public Hypothesis strategies for convolution specs and cases.

Every spec is built constructively (rank, channels, kernel, stride, dilation,
padding, then an input size that fits), so no draw is rejected::

    from hypothesis import given
    from harness.strategies import conv_cases

    @given(conv_cases(ranks=(2,), dtypes=("float32",)))
    def test_my_port(case):
        spec, seed = case
        ...
"""

from __future__ import annotations

from typing import Iterable

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from .spec import DTYPES, LAYOUTS, ConvSpec

__all__ = ["conv_specs", "conv_cases", "PADDINGS"]

PADDINGS = ("valid", "same", "causal", "explicit")


def _check_choice(name: str, values: Iterable, allowed: Iterable) -> tuple:
    values, allowed = tuple(values), tuple(allowed)
    if not values:
        raise InvalidArgument(f"{name}=(): give at least one of {allowed}")
    bad = [v for v in values if v not in allowed]
    if bad:
        raise InvalidArgument(f"{name}={values!r}: {bad[0]!r} is not one of {allowed}")
    return values


@st.composite
def _specs(draw, layouts, dtypes, paddings, groups, dilation, bias, max_elements):
    layout = draw(st.sampled_from(layouts))
    rank = len(layout) - 2
    kinds = [p for p in paddings if p != "causal" or rank == 1]
    padding_kind = draw(st.sampled_from(kinds))
    group_count = draw(st.integers(1, 4)) if groups else 1
    per_group_in = draw(st.integers(1, 3))  # 1 with groups > 1: depthwise
    multiplier = draw(st.integers(1, 3))  # out channels per group
    in_channels, out_channels = group_count * per_group_in, group_count * multiplier
    max_kernel = (4, 4, 3)[rank - 1]
    kernel = draw(st.tuples(*[st.integers(1, max_kernel)] * rank))
    stride = draw(st.tuples(*[st.integers(1, 3)] * rank))
    dil = draw(st.tuples(*[st.integers(1, 3 if rank < 3 else 2)] * rank)) if dilation else (1,) * rank
    if padding_kind == "explicit":
        padding = draw(st.tuples(*[st.tuples(st.integers(0, 2), st.integers(0, 2))] * rank))
    else:
        padding = padding_kind
    batch = draw(st.integers(1, 2))
    # The input must hold the dilated kernel; 'same' and 'causal' pad enough for any size.
    per_axis = max(1, int((max_elements / (batch * in_channels)) ** (1 / rank)))
    spatial = []
    for axis in range(rank):
        extent = (kernel[axis] - 1) * dil[axis] + 1
        pads = sum(padding[axis]) if padding_kind == "explicit" else 0
        low = 1 if padding_kind in ("same", "causal") else max(1, extent - pads)
        spatial.append(draw(st.integers(low, max(low, min(per_axis, low + 6)))))
    return ConvSpec(
        layout=layout, batch=batch, in_channels=in_channels, out_channels=out_channels,
        spatial=tuple(spatial), kernel=kernel, stride=stride, dilation=dil, padding=padding,
        groups=group_count, bias=draw(st.booleans()) if bias is None else bias,
        dtype=draw(st.sampled_from(dtypes)),
    )


def conv_specs(
    *,
    ranks: Iterable[int] = (1, 2, 3),
    layouts: Iterable[str] | None = None,
    dtypes: Iterable[str] = DTYPES,
    paddings: Iterable[str] = PADDINGS,
    groups: bool = True,
    dilation: bool = True,
    bias: bool | None = None,
    max_elements: int = 2048,
) -> st.SearchStrategy[ConvSpec]:
    """Valid ConvSpecs.

    ``ranks`` and ``layouts`` select the layouts (both apply); ``paddings``
    among 'valid', 'same', 'causal' (1-D only) and 'explicit' (asymmetric
    pairs); ``groups=False`` keeps groups=1 and ``dilation=False`` dilation 1;
    ``bias`` None draws it. ``max_elements`` caps the input's element count
    where the kernel allows (the input always holds the dilated kernel).
    The corners come on purpose: even kernels with 'same', stride larger than
    the kernel, dilation with stride, depthwise and grouped convolutions with
    channel multipliers, kernel equal to the input, spatial size 1, batch 1.
    """
    ranks = _check_choice("ranks", ranks, (1, 2, 3))
    layouts = _check_choice("layouts", LAYOUTS if layouts is None else layouts, LAYOUTS)
    layouts = tuple(layout for layout in layouts if len(layout) - 2 in ranks)
    if not layouts:
        raise InvalidArgument(f"no layout of ranks={ranks!r} among the given layouts")
    dtypes = _check_choice("dtypes", dtypes, DTYPES)
    paddings = _check_choice("paddings", paddings, PADDINGS)
    if set(paddings) == {"causal"}:
        layouts = tuple(layout for layout in layouts if len(layout) == 3)
        if not layouts:
            raise InvalidArgument("paddings=('causal',) needs a 1-D layout (NCW or NWC)")
    if not isinstance(max_elements, int) or max_elements < 1:
        raise InvalidArgument(f"max_elements={max_elements!r}: must be a positive int")
    return _specs(layouts, dtypes, paddings, groups, dilation, bias, max_elements)


def conv_cases(**filters) -> st.SearchStrategy[tuple[ConvSpec, int]]:
    """``(spec, seed)`` pairs: a spec from ``conv_specs(**filters)`` and a data seed."""
    return st.tuples(conv_specs(**filters), st.integers(0, 2**32 - 1))
