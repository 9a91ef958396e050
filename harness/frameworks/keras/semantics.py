"""Keras 3's own rules, as its sources state them: the output size of a
Conv*DTranspose layer, and the layer arguments that give a transposed spec's crop."""

from __future__ import annotations

from ...spec import ConvSpec


def transposed_crop(kernel: int, stride: int, dilation: int, padding: str, output_padding: int | None):
    """Keras 3's Conv*DTranspose on one axis as a transposed spec's (begin, end) crop
    and output padding. Keras (keras/src/backend/common/backend_utils.py) pads the
    stride-dilated input by (left, right) before a stride-1 conv with the dilated
    kernel (extent e): 'valid' by (e-1, e-1 + p), p defaulting to max(e, s) - e;
    'same' by a total of s + e - 2 (output n*s) or, with p given, e + e%2 - 2 + p,
    left = min(ceil(total/2), e-1). The crop is (e-1 - left, e-1 - right); a
    negative end is output padding."""
    extent = (kernel - 1) * dilation + 1
    if padding == "valid":
        left = extent - 1
        right = extent - 1 + (max(extent, stride) - extent if output_padding is None else output_padding)
    else:
        total = stride + extent - 2 if output_padding is None else extent + extent % 2 - 2 + output_padding
        left = min(total // 2 + total % 2, extent - 1)
        right = total - left
    begin, end = extent - 1 - left, extent - 1 - right
    return (begin, max(end, 0)), max(-end, 0)


def keras_transposed_arguments(spec: ConvSpec) -> dict | None:
    """Conv*DTranspose's padding and output_padding that give ``spec``'s crop, or None."""
    wanted = list(zip(spec.explicit_padding, spec.explicit_output_padding))
    for padding in ("same", "valid"):
        for given in (None, "each"):
            chosen = []
            for (k, s, d), want in zip(zip(spec.kernel, spec.stride, spec.dilation), wanted):
                options = [None] if given is None else range(s)  # Keras: output_padding < strides
                found = next((p for p in options if transposed_crop(k, s, d, padding, p) == want), "none")
                chosen.append(found)
            if "none" not in chosen:
                return dict(padding=padding, output_padding=None if given is None else tuple(chosen))
    return None
