"""Public Hypothesis strategies for convolution specs and cases.

Every spec is built constructively (rank, channels, kernel, stride, dilation,
forward or transposed, padding and its mode, then an input size that fits),
so no draw is rejected::

    from hypothesis import given
    from harness.strategies import conv_cases

    @given(conv_cases(ranks=(2,), dtypes=("float32",)))
    def test_my_port(case):
        spec, seed = case
        ...
"""

from __future__ import annotations

import inspect
from typing import Iterable

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from .spec import DTYPES, LAYOUTS, PADDING_MODES, ConvSpec

__all__ = ["conv_specs", "conv_cases", "PADDINGS", "PADDING_MODES", "FEATURES"]

PADDINGS = ("valid", "same", "causal", "explicit")
FEATURES = ("groups", "dilation", "stride")  # what ``require`` can ask every spec to have


def _check_choice(name: str, values: Iterable, allowed: Iterable) -> tuple:
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise InvalidArgument(f"{name}={values!r}: must be a tuple of values from {tuple(allowed)}")
    values, allowed = tuple(values), tuple(allowed)
    if not values:
        raise InvalidArgument(f"{name}=(): give at least one of {allowed}")
    bad = [v for v in values if v not in allowed]
    if bad:
        raise InvalidArgument(f"{name}={values!r}: {bad[0]!r} is not one of {allowed}")
    return values


def _check_int(name: str, value, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        rule = f">= {low}" if high is None else f"from {low} to {high}"
        raise InvalidArgument(f"{name}={value!r}: must be an int {rule}")


def _check_flag(name: str, value, allow_none: bool = False) -> None:
    if not (isinstance(value, bool) or (allow_none and value is None)):
        raise InvalidArgument(f"{name}={value!r}: must be True or False" + (" or None (drawn)" if allow_none else ""))


def _at_least_one_above_one(draw, values: tuple[int, ...], high: int) -> tuple[int, ...]:
    """``values`` with one axis (drawn) raised to 2..high where none exceeds 1."""
    if max(values) > 1:
        return values
    axis = draw(st.integers(0, len(values) - 1))
    return values[:axis] + (draw(st.integers(2, high)),) + values[axis + 1:]


@st.composite
def _specs(draw, layouts, dtypes, paddings, groups, dilation, bias, require, max_kernel, max_stride, max_dilation,
           max_groups, max_elements, transposed, padding_modes):
    layout = draw(st.sampled_from(layouts))
    rank = len(layout) - 2
    kinds = [p for p in paddings if p != "causal" or rank == 1]
    # a quarter of the draws transposed, where both are allowed (shrinking goes to forward)
    is_transposed = draw(st.sampled_from((False, False, False, True))) if transposed is None else transposed
    if is_transposed:
        kinds = [p for p in kinds if p != "causal"]
    padding_kind = draw(st.sampled_from(kinds))
    group_count = draw(st.integers(2 if "groups" in require else 1, max_groups)) if groups else 1
    per_group_in = draw(st.integers(1, 3))  # 1 with groups > 1: depthwise
    multiplier = draw(st.integers(1, 3))  # out channels per group
    in_channels, out_channels = group_count * per_group_in, group_count * multiplier
    kernel = draw(st.tuples(*[st.integers(1, max_kernel[rank - 1])] * rank))
    stride = draw(st.tuples(*[st.integers(1, max_stride)] * rank))
    if "stride" in require:
        stride = _at_least_one_above_one(draw, stride, max_stride)
    top = max_dilation[rank - 1]
    dil = draw(st.tuples(*[st.integers(1, top)] * rank)) if dilation else (1,) * rank
    if "dilation" in require:
        dil = _at_least_one_above_one(draw, dil, top)
    if padding_kind == "explicit":
        padding = draw(st.tuples(*[st.tuples(st.integers(0, 2), st.integers(0, 2))] * rank))
    else:
        padding = padding_kind
    output_padding = (0,) * rank
    mode = "zeros"
    if is_transposed and padding_kind != "same":
        output_padding = draw(st.tuples(*[st.integers(0, max(s, d) - 1) for s, d in zip(stride, dil)]))
    elif not is_transposed and (padding_kind != "valid" or "zeros" not in padding_modes):  # 'valid' fills nothing
        mode = draw(st.sampled_from(padding_modes))
    batch = draw(st.integers(1, 2))
    per_axis = max(1, int((max_elements / (batch * in_channels)) ** (1 / rank)))
    spatial = []
    for axis in range(rank):
        extent = (kernel[axis] - 1) * dil[axis] + 1
        pads = padding[axis] if padding_kind == "explicit" else (0, 0)
        if is_transposed:  # the full output, (n-1)*s + extent, must outlast the crop
            low = 1 + max(0, -(-(sum(pads) + 1 - output_padding[axis] - extent) // stride[axis]))
        elif padding_kind in ("same", "causal"):  # these pad enough for any size
            low = extent if mode != "zeros" else 1  # a pad of at most extent-1: reflect and circular hold
        else:  # the input must hold the dilated kernel, and reflect pads less than it
            low = max(1, extent - sum(pads), max(pads) + (mode == "reflect"))
        spatial.append(draw(st.integers(low, max(low, min(per_axis, low + 6)))))
    return ConvSpec(
        layout=layout, batch=batch, in_channels=in_channels, out_channels=out_channels,
        spatial=tuple(spatial), kernel=kernel, stride=stride, dilation=dil, padding=padding,
        groups=group_count, bias=draw(st.booleans()) if bias is None else bias,
        dtype=draw(st.sampled_from(dtypes)), transposed=is_transposed, output_padding=output_padding,
        padding_mode=mode,
    )


def conv_specs(
    *,
    ranks: Iterable[int] = (1, 2, 3),
    max_rank: int = 3,
    layouts: Iterable[str] | None = None,
    dtypes: Iterable[str] = DTYPES,
    paddings: Iterable[str] = PADDINGS,
    groups: bool = True,
    dilation: bool = True,
    bias: bool | None = None,
    require: Iterable[str] = (),
    max_kernel: int | None = None,
    max_stride: int = 3,
    max_dilation: int | None = None,
    max_groups: int = 4,
    max_elements: int = 2048,
    transposed: bool | None = None,
    padding_modes: Iterable[str] = PADDING_MODES,
) -> st.SearchStrategy[ConvSpec]:
    """Valid ConvSpecs, built so that every draw is valid (nothing is filtered).

    ``ranks`` (and ``max_rank``) and ``layouts`` select the layouts (both
    apply); ``paddings`` among 'valid', 'same', 'causal' (1-D only) and
    'explicit' (asymmetric pairs); ``groups=False`` keeps groups=1 and
    ``dilation=False`` dilation 1; ``bias`` None draws it. ``require`` names
    features every spec has: 'groups' (groups > 1), 'dilation' and 'stride'
    (on at least one axis). Bounds: ``max_kernel`` per axis (default 4, 3 for
    3-D), ``max_stride``, ``max_dilation`` (default 3, 2 for 3-D),
    ``max_groups``, and ``max_elements`` caps the input's element count where
    the kernel allows (the input always holds the dilated kernel). Wrong types
    or ranges raise Hypothesis' InvalidArgument when the strategy is built.

    ``transposed`` None draws both forward and (a quarter of the time)
    transposed specs, with output_padding; True or False only those.
    ``padding_modes`` are drawn for forward specs (half of the draws zeros
    where zeros is among them; transposed specs pad with zeros only).

    The corners come on purpose: even kernels with 'same', stride larger than
    the kernel, dilation with stride, depthwise and grouped convolutions with
    channel multipliers, kernel equal to the input, spatial size 1, batch 1::

        conv_specs(ranks=(2,), require=("groups", "stride"), max_groups=2)   # grouped, strided conv2d
        conv_specs(transposed=True, paddings=("same",))                     # decoder upsampling
        conv_specs(transposed=False, padding_modes=("reflect", "circular"))
    """
    _check_int("max_rank", max_rank, 1, 3)
    ranks = tuple(r for r in _check_choice("ranks", ranks, (1, 2, 3)) if r <= max_rank)
    if not ranks:
        raise InvalidArgument(f"max_rank={max_rank}: leaves none of the ranks")
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
    _check_flag("groups", groups)
    _check_flag("dilation", dilation)
    _check_flag("bias", bias, allow_none=True)
    _check_flag("transposed", transposed, allow_none=True)
    padding_modes = _check_choice("padding_modes", padding_modes, PADDING_MODES)
    if transposed and set(paddings) == {"causal"}:
        raise InvalidArgument("transposed=True with paddings=('causal',): 'causal' is not defined for transposed specs")
    if transposed and "zeros" not in padding_modes:
        raise InvalidArgument(f"transposed=True with padding_modes={padding_modes!r}: transposed specs pad with "
                              "zeros only")
    if transposed is None and ("zeros" not in padding_modes or set(paddings) == {"causal"}):
        transposed = False  # the filters leave forward specs only
    if "zeros" in padding_modes:  # half of the draws zeros, the usual case
        padding_modes = ("zeros",) * max(1, len(padding_modes) - 1) + tuple(m for m in padding_modes if m != "zeros")
    require = _check_choice("require", require, FEATURES) if tuple(require) else ()
    for name, value, low in (("max_kernel", max_kernel, 1), ("max_stride", max_stride, 1),
                             ("max_dilation", max_dilation, 1), ("max_groups", max_groups, 1),
                             ("max_elements", max_elements, 1)):
        if value is not None:
            _check_int(name, value, low)
    kernels = (4, 4, 3) if max_kernel is None else (max_kernel,) * 3
    dilations = (3, 3, 2) if max_dilation is None else (max_dilation,) * 3
    for feature, allowed, why in (
        ("groups", groups and max_groups >= 2, "groups=False or max_groups < 2"),
        ("dilation", dilation and min(dilations[r - 1] for r in ranks) >= 2, "dilation=False or max_dilation < 2"),
        ("stride", max_stride >= 2, "max_stride < 2"),
    ):
        if feature in require and not allowed:
            raise InvalidArgument(f"require={require!r}: {feature!r} cannot be drawn with {why}")
    return _specs(layouts, dtypes, paddings, groups, dilation, bias, require, kernels, max_stride, dilations,
                  max_groups, max_elements, transposed, padding_modes)


def conv_cases(**filters) -> st.SearchStrategy[tuple[ConvSpec, int]]:
    """``(spec, seed)`` pairs: a spec from ``conv_specs(**filters)`` and a data seed."""
    return st.tuples(conv_specs(**filters), st.integers(0, 2**32 - 1))


conv_cases.__signature__ = inspect.signature(conv_specs).replace(
    return_annotation="st.SearchStrategy[tuple[ConvSpec, int]]")
