"""ConvSpec: the framework-neutral description of one convolution.

Validation happens once, here, at construction; everything downstream sees
normalised tuples and a spec that is known to be valid.
"""

from __future__ import annotations

import dataclasses
import json
import math
import operator
from typing import Any

LAYOUTS = ("NCW", "NWC", "NCHW", "NHWC", "NCDHW", "NDHWC")
DTYPES = ("float16", "bfloat16", "float32", "float64")
PADDING_KINDS = ("valid", "same", "causal")
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def layout_of(rank: int, channels_last: bool) -> str:
    """The layout of ``rank`` spatial axes with the channels first or last: ``layout_of(2, True)`` is "NHWC"."""
    return LAYOUTS[2 * (rank - 1) + channels_last]


def _fail(field: str, value: Any, rule: str) -> ValueError:
    return ValueError(f"{field}={value!r}: {rule}")


def _positive_int(field: str, value: Any, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not _is_int(value):
        raise _fail(field, value, "must be an integer")
    value = operator.index(value)
    if value < minimum:
        raise _fail(field, value, f"must be >= {minimum}")
    return value


def _is_int(value: Any) -> bool:
    try:
        operator.index(value)
    except TypeError:
        return False
    return True


def _per_dim(field: str, value: Any, rank: int, *, minimum: int = 1) -> tuple[int, ...]:
    """An int or a sequence of `rank` ints, normalised to a tuple of ints."""
    if isinstance(value, (str, bytes)) or not (_is_int(value) or _is_sequence(value)):
        raise _fail(field, value, f"must be an int or a sequence of {rank} ints")
    if _is_int(value) and not isinstance(value, bool):
        return (_positive_int(field, value, minimum=minimum),) * rank
    if _is_int(value):
        raise _fail(field, value, "must be an integer")
    items = tuple(value)
    if len(items) != rank:
        raise _fail(field, value, f"needs {rank} entries, one per spatial dimension, got {len(items)}")
    return tuple(_positive_int(field, v, minimum=minimum) for v in items)


def _is_sequence(value: Any) -> bool:
    return isinstance(value, (tuple, list))


def _normalise_padding(value: Any, rank: int) -> str | tuple[tuple[int, int], ...]:
    rule = (
        "must be 'valid', 'same', 'causal', an int, "
        f"or {rank} (before, after) pairs such as {((1, 2),) * rank!r}"
    )
    if isinstance(value, str):
        kind = value.lower()
        if kind not in PADDING_KINDS:
            raise _fail("padding", value, rule)
        if kind == "causal" and rank != 1:
            raise _fail("padding", value, f"'causal' is defined for 1-D convolutions only, this spec is {rank}-D")
        return kind
    if _is_int(value) and not isinstance(value, bool):
        p = _positive_int("padding", value, minimum=0)
        return ((p, p),) * rank
    if not _is_sequence(value) or len(value) != rank:
        raise _fail("padding", value, rule)
    pairs = []
    for pair in value:
        if not _is_sequence(pair) or len(pair) != 2:
            raise _fail("padding", value, rule)
        pairs.append(tuple(_positive_int("padding", p, minimum=0) for p in pair))
    return tuple(pairs)


def same_padding(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TensorFlow/JAX 'SAME': output ceil(n/s); the odd pad goes at the end."""
    extent = (kernel - 1) * dilation + 1
    total = max((math.ceil(size / stride) - 1) * stride + extent - size, 0)
    return total // 2, total - total // 2


def full_transposed_length(size: int, kernel: int, stride: int, dilation: int) -> int:
    """Every position a transposed convolution writes: (n-1)*s + (k-1)*d + 1."""
    return (size - 1) * stride + (kernel - 1) * dilation + 1


def same_transposed_crop(size: int, kernel: int, stride: int, dilation: int) -> tuple[tuple[int, int], int]:
    """'SAME' for a transposed convolution: output n*s. The crop from the full
    output is split with the smaller half at the start (TensorFlow, Keras,
    ONNX SAME_UPPER); where n*s exceeds the full output, the extra positions
    come at the end. Returns the (begin, end) crop and the extra positions."""
    total = full_transposed_length(size, kernel, stride, dilation) - size * stride
    if total < 0:
        return (0, 0), -total
    return (total // 2, total - total // 2), 0


def transposed_from_dilated_input_padding(kernel, dilation, pads) -> tuple[tuple, tuple[int, ...]]:
    """The crops and output padding of a transposed conv computed as the stride-1 conv
    of its stride-dilated input padded by ``pads`` (``ConvSpec.dilated_input_padding``
    read backwards): a pad short of (k-1)*d crops, one past it at the end adds positions."""
    crops, extra = [], []
    for k, d, (before, after) in zip(kernel, dilation, pads):
        reach = (k - 1) * d
        crops.append((reach - before, max(reach - after, 0)))
        extra.append(max(after - reach, 0))
    return tuple(crops), tuple(extra)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ConvSpec:
    """One convolution, independent of any framework.

    Weights are ``(out_channels, in_channels // groups, *kernel)``, the bias
    ``(out_channels,)``; inputs and outputs are in ``layout``.
    ``padding='same'`` is TensorFlow/JAX SAME (sized from the dilated kernel,
    the odd pad at the end); ``'causal'`` pads ``(k-1)*d`` before only.
    ``padding_mode`` fills the padding as PyTorch does: zeros, reflect
    (NumPy's reflect), replicate (NumPy's edge) or circular (NumPy's wrap).

    A ``transposed`` spec is PyTorch's and ONNX's ConvTranspose: weights
    ``(in_channels, out_channels // groups, *kernel)``; explicit padding pairs
    are cropped from the full output of ``(n-1)*s + (k-1)*d + 1`` positions,
    and ``output_padding`` adds positions at the end (they select computed
    values first, zeros beyond the full output); 'same' gives ``n*s``.
    """

    layout: str
    in_channels: int
    out_channels: int
    spatial: tuple[int, ...]
    kernel: tuple[int, ...]
    batch: int = 1
    stride: tuple[int, ...] = 1
    dilation: tuple[int, ...] = 1
    padding: str | tuple[tuple[int, int], ...] = "valid"
    groups: int = 1
    bias: bool = False
    dtype: str = "float32"
    transposed: bool = False
    output_padding: tuple[int, ...] = 0
    padding_mode: str = "zeros"

    def __post_init__(self) -> None:
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
        if not isinstance(self.layout, str) or self.layout.upper() not in LAYOUTS:
            raise _fail("layout", self.layout, f"must be one of {', '.join(LAYOUTS)}")
        set_("layout", self.layout.upper())
        rank = self.rank
        for name in ("batch", "in_channels", "out_channels", "groups"):
            set_(name, _positive_int(name, getattr(self, name)))
        for name in ("spatial", "kernel", "stride", "dilation"):
            set_(name, _per_dim(name, getattr(self, name), rank))
        set_("output_padding", _per_dim("output_padding", self.output_padding, rank, minimum=0))
        set_("padding", _normalise_padding(self.padding, rank))
        for name in ("bias", "transposed"):
            if not isinstance(getattr(self, name), bool):
                raise _fail(name, getattr(self, name), "must be true or false")
        if self.padding_mode not in PADDING_MODES:
            raise _fail("padding_mode", self.padding_mode, f"must be one of {', '.join(PADDING_MODES)}")
        if self.dtype not in DTYPES:
            raise _fail("dtype", self.dtype, f"must be one of {', '.join(DTYPES)}")
        for name in ("in_channels", "out_channels"):
            if getattr(self, name) % self.groups:
                raise _fail("groups", self.groups, f"must divide {name}={getattr(self, name)}")
        if self.transposed:
            self._validate_transposed()
        else:
            self._validate_forward()

    def _validate_transposed(self) -> None:
        if self.padding == "causal":
            raise _fail("padding", "causal", "'causal' is not defined for transposed convolutions")
        if self.padding_mode != "zeros":
            raise _fail("padding_mode", self.padding_mode,
                        "transposed convolutions crop their output: only 'zeros' applies (as in PyTorch)")
        if self.padding == "same" and any(self.output_padding):
            raise _fail("output_padding", self.output_padding,
                        "must be 0 with padding='same', which fixes the output at input*stride")
        for axis, (p, s, d) in enumerate(zip(self.output_padding, self.stride, self.dilation)):
            if p >= max(s, d):
                raise _fail("output_padding", self.output_padding,
                            f"{p} on spatial axis {axis} must be smaller than the stride {s} or the dilation {d}")
        for axis, size in enumerate(self.output_spatial):
            if size < 1:
                raise _fail("padding", self.padding,
                            f"crops more than the {self.full_output_spatial[axis]} positions the transposed "
                            f"convolution writes on spatial axis {axis}")

    def _validate_forward(self) -> None:
        if any(self.output_padding):
            raise _fail("output_padding", self.output_padding, "applies to transposed specs only (transposed=true)")
        for axis, (n, (before, after)) in enumerate(zip(self.spatial, self.explicit_padding)):
            if self.padding_mode == "reflect" and max(before, after) >= n:
                raise _fail("padding_mode", "reflect",
                            f"needs each pad smaller than the input size {n} on spatial axis {axis}, "
                            f"got ({before}, {after})")
            if self.padding_mode == "circular" and max(before, after) > n:
                raise _fail("padding_mode", "circular",
                            f"needs each pad at most the input size {n} on spatial axis {axis}, "
                            f"got ({before}, {after})")
            extent = (self.kernel[axis] - 1) * self.dilation[axis] + 1
            if extent > n + before + after:
                raise _fail(
                    "kernel",
                    self.kernel,
                    f"dilated kernel extent {extent} on spatial axis {axis} exceeds the padded input "
                    f"{n}+{before}+{after}={n + before + after}",
                )

    # -- derived ---------------------------------------------------------
    @property
    def rank(self) -> int:
        """The number of spatial axes: 1, 2 or 3."""
        return len(self.layout) - 2

    @property
    def channels_last(self) -> bool:
        """Whether the layout puts channels last (``NWC``, ``NHWC``, ``NDHWC``)."""
        return self.layout.endswith("C")

    @property
    def padding_kind(self) -> str:
        """``valid``, ``same``, ``causal`` or ``explicit`` (pairs)."""
        return self.padding if isinstance(self.padding, str) else "explicit"

    @property
    def explicit_padding(self) -> tuple[tuple[int, int], ...]:
        """The padding resolved to one (before, after) pair per spatial axis:
        pads of the input, or for a transposed spec crops of its full output."""
        if self.padding == "valid":
            return ((0, 0),) * self.rank
        if self.padding == "same" and self.transposed:
            return tuple(crop for crop, _ in self._same_transposed)
        if self.padding == "same":
            return tuple(map(same_padding, self.spatial, self.kernel, self.stride, self.dilation))
        if self.padding == "causal":
            return (((self.kernel[0] - 1) * self.dilation[0], 0),)
        return self.padding

    @property
    def _same_transposed(self) -> tuple[tuple[tuple[int, int], int], ...]:
        return tuple(map(same_transposed_crop, self.spatial, self.kernel, self.stride, self.dilation))

    @property
    def explicit_output_padding(self) -> tuple[int, ...]:
        """Positions added at the end of a transposed output: ``output_padding``,
        or what 'same' adds where input*stride exceeds the full output."""
        if self.padding == "same" and self.transposed:
            return tuple(extra for _, extra in self._same_transposed)
        return self.output_padding

    @property
    def past_full_output(self) -> tuple[int, ...]:
        """How many positions of a transposed output lie past its full output, per
        axis: output padding beyond what the end crop leaves (zeros there)."""
        return tuple(max(0, extra - after) for (_, after), extra in zip(
            self.explicit_padding, self.explicit_output_padding))

    @property
    def dilated_input_padding(self) -> tuple[tuple[int, int], ...]:
        """A transposed spec as the stride-1 conv of its input dilated by the stride,
        with the flipped kernel: that input's pads, (k-1)*d minus the crop (and the
        output padding at the end); negative where the crop reaches past them."""
        return tuple(((k - 1) * d - before, (k - 1) * d - after + extra) for k, d, (before, after), extra in zip(
            self.kernel, self.dilation, self.explicit_padding, self.explicit_output_padding))

    @property
    def padded(self) -> bool:
        """Whether the padding adds any position (for a transposed spec: crops any)."""
        return any(map(any, self.explicit_padding))

    @property
    def mode_fills(self) -> bool:
        """Whether the padding mode fills positions otherwise than with zeros."""
        return self.padding_mode != "zeros" and self.padded

    @property
    def full_output_spatial(self) -> tuple[int, ...]:
        """A transposed spec's output before its crop: (n-1)*s + (k-1)*d + 1."""
        return tuple(map(full_transposed_length, self.spatial, self.kernel, self.stride, self.dilation))

    @property
    def output_spatial(self) -> tuple[int, ...]:
        """The output's spatial sizes."""
        if self.transposed:
            return tuple(full - before - after + extra for full, (before, after), extra in zip(
                self.full_output_spatial, self.explicit_padding, self.explicit_output_padding))
        return tuple(
            (n + before + after - (k - 1) * d - 1) // s + 1
            for n, (before, after), k, s, d in zip(
                self.spatial, self.explicit_padding, self.kernel, self.stride, self.dilation
            )
        )

    def _arrange(self, channels: int, spatial: tuple[int, ...]) -> tuple[int, ...]:
        if self.channels_last:
            return (self.batch, *spatial, channels)
        return (self.batch, channels, *spatial)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The input's shape in ``layout``."""
        return self._arrange(self.in_channels, self.spatial)

    @property
    def output_shape(self) -> tuple[int, ...]:
        """The output's shape in ``layout``."""
        return self._arrange(self.out_channels, self.output_spatial)

    @property
    def weight_shape(self) -> tuple[int, ...]:
        """The neutral weight shape: ``(out, in/groups, *kernel)``, transposed ``(in, out/groups, *kernel)``."""
        if self.transposed:
            return (self.in_channels, self.out_channels // self.groups, *self.kernel)
        return (self.out_channels, self.in_channels // self.groups, *self.kernel)

    @property
    def bias_shape(self) -> tuple[int, ...] | None:
        """``(out_channels,)``, or None without a bias."""
        return (self.out_channels,) if self.bias else None

    @property
    def reduction_length(self) -> int:
        """How many products are summed into each output element, at most.
        A transposed output position meets one tap in every s/gcd(s, d)."""
        if self.transposed:
            return self.in_channels // self.groups * math.prod(
                -(-k // (s // math.gcd(s, d))) for k, s, d in zip(self.kernel, self.stride, self.dilation))
        return self.in_channels // self.groups * math.prod(self.kernel)

    def describe(self) -> str:
        """The spec in words, with the output shape it implies (the first line of ``check``)."""
        dims = lambda t: "x".join(map(str, t))  # noqa: E731
        pad = self.padding if isinstance(self.padding, str) else "explicit " + ",".join(
            f"{b}/{a}" for b, a in self.padding
        )
        if self.padding_mode != "zeros":
            pad += f" ({self.padding_mode})"
        parts = [
            f"conv{self.rank}d{'_transpose' if self.transposed else ''} {self.layout} {self.dtype}",
            f"in {dims(self.input_shape)}",
            f"kernel {dims(self.kernel)}",
            f"stride {dims(self.stride)}",
            f"dilation {dims(self.dilation)}",
            f"padding {pad}",
            *([f"output_padding {dims(self.output_padding)}"] if any(self.output_padding) else []),
            f"groups {self.groups}",
            "bias" if self.bias else "no bias",
            f"-> out {dims(self.output_shape)}",
        ]
        return ", ".join(parts)

    def replace(self, **changes: Any) -> ConvSpec:
        """A copy with ``changes``, validated as a new spec is."""
        return dataclasses.replace(self, **changes)

    # -- JSON ------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON values; the transposed and padding-mode fields
        only where they differ from their defaults, so forward specs keep
        the JSON they always had."""
        data = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}  # asdict's deep copy: 10x
        for name in ("spatial", "kernel", "stride", "dilation", "output_padding"):
            data[name] = list(data[name])
        if not isinstance(self.padding, str):
            data["padding"] = [list(pair) for pair in self.padding]
        for name, default in (("transposed", False), ("padding_mode", "zeros")):
            if data[name] == default:
                del data[name]
        if not any(self.output_padding):
            del data["output_padding"]
        return data

    def to_json(self) -> str:
        """The spec as compact JSON (``from_json`` reads it back)."""
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Any) -> ConvSpec:
        """A spec from its JSON object; ValueError naming the field and the rule for bad input."""
        if not isinstance(data, dict):
            raise _fail("spec", data, "must be a JSON object with the ConvSpec fields")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(fields), key=str)
        if unknown:
            raise _fail(str(unknown[0]), data[unknown[0]], f"is not a ConvSpec field (fields: {', '.join(fields)})")
        missing = [
            name
            for name, f in fields.items()
            if f.default is dataclasses.MISSING and name not in data
        ]
        if missing:
            raise ValueError(f"{missing[0]}: required field is missing")
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> ConvSpec:
        """A spec from JSON text; ValueError for text that is not a JSON object of its fields."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"spec: not valid JSON ({exc})") from None
        return cls.from_dict(data)
