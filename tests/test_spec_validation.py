"""Every validation rule raises ValueError naming the field and the rule."""

import json

import pytest

from harness import ConvSpec

BASE = dict(layout="NCHW", in_channels=4, out_channels=6, spatial=(8, 8), kernel=3)

CASES = [
    (dict(layout="NCHWX"), "layout", "must be one of"),
    (dict(layout=3), "layout", "must be one of"),
    (dict(dtype="float8"), "dtype", "must be one of"),
    (dict(batch=0), "batch", ">= 1"),
    (dict(in_channels=-1), "in_channels", ">= 1"),
    (dict(out_channels=2.5), "out_channels", "integer"),
    (dict(groups=True), "groups", "integer"),
    (dict(groups=3), "groups", "must divide in_channels=4"),
    (dict(in_channels=6, groups=3, out_channels=4), "groups", "must divide out_channels=4"),
    (dict(spatial=(8,)), "spatial", "needs 2 entries"),
    (dict(kernel=(3, 3, 3)), "kernel", "needs 2 entries"),
    (dict(stride=0), "stride", ">= 1"),
    (dict(stride=(1, 0)), "stride", ">= 1"),
    (dict(dilation="2"), "dilation", "an int or a sequence"),
    (dict(kernel=9), "kernel", "exceeds the padded input"),
    (dict(kernel=3, dilation=4), "kernel", "exceeds the padded input"),
    (dict(padding="causal"), "padding", "1-D convolutions only"),
    (dict(padding="full"), "padding", "'valid', 'same', 'causal'"),
    (dict(padding=-1), "padding", ">= 0"),
    (dict(padding=((1, 1),)), "padding", "2 (before, after) pairs"),
    (dict(padding=((1, 1, 1), (1, 1))), "padding", "(before, after) pairs"),
    (dict(bias="yes"), "bias", "true or false"),
    (dict(transposed=1), "transposed", "true or false"),
    (dict(output_padding=1), "output_padding", "transposed specs only"),
    (dict(transposed=True, output_padding=-1), "output_padding", ">= 0"),
    (dict(transposed=True, stride=2, output_padding=2), "output_padding",
     "smaller than the stride 2 or the dilation 1"),
    (dict(transposed=True, stride=2, dilation=3, output_padding=3), "output_padding", "smaller than the stride"),
    (dict(transposed=True, stride=2, padding="same", output_padding=1), "output_padding",
     "must be 0 with padding='same'"),
    (dict(transposed=True, padding=6), "padding", "crops more than the 10 positions"),
    (dict(transposed=True, padding_mode="reflect", padding=1), "padding_mode", "only 'zeros' applies"),
    (dict(padding_mode="mirror"), "padding_mode", "must be one of zeros, reflect, replicate, circular"),
    (dict(padding=8, padding_mode="reflect"), "padding_mode", "smaller than the input size 8"),
    (dict(padding=((0, 9), (0, 0)), padding_mode="circular"), "padding_mode", "at most the input size 8"),
]


@pytest.mark.parametrize("changes,field,rule", CASES, ids=[f"{c[1]}-{i}" for i, c in enumerate(CASES)])
def test_invalid_spec_names_the_field_and_rule(changes, field, rule):
    with pytest.raises(ValueError) as info:
        ConvSpec(**{**BASE, **changes})
    message = str(info.value)
    assert message.startswith(field + "="), message
    assert rule in message, message
    assert "\n" not in message


def test_causal_transposed_is_refused_naming_padding():
    with pytest.raises(ValueError, match=r"^padding='causal': 'causal' is not defined for transposed"):
        ConvSpec(layout="NCW", in_channels=1, out_channels=1, spatial=4, kernel=2, padding="causal", transposed=True)


def test_padding_modes_at_pytorch_limits_are_valid():
    ConvSpec(**{**BASE, "padding": 7, "padding_mode": "reflect"})  # pad 7 < size 8
    ConvSpec(**{**BASE, "padding": 8, "padding_mode": "circular"})  # pad 8 <= size 8
    ConvSpec(**{**BASE, "transposed": True, "stride": 1, "dilation": 2, "output_padding": 1})  # < dilation


def test_padded_input_admits_a_kernel_the_bare_input_does_not():
    spec = ConvSpec(**{**BASE, "spatial": (2, 2), "kernel": 3, "padding": 1})
    assert spec.output_spatial == (2, 2)


@pytest.mark.parametrize(
    "data,field",
    [
        ({"layout": "NCW", "in_channels": 1, "out_channels": 1, "spatial": [4]}, "kernel"),
        ({**BASE, "spatial": [8, 8], "colour": "red"}, "colour"),
        ([1, 2], "spec"),
    ],
)
def test_from_dict_names_missing_unknown_and_malformed_input(data, field):
    with pytest.raises(ValueError, match=f"^{field}"):
        ConvSpec.from_dict(data)


def test_from_json_rejects_malformed_json_naming_the_spec():
    with pytest.raises(ValueError, match="^spec: not valid JSON"):
        ConvSpec.from_json("{layout: NCW")


def test_normalisation_to_tuples_and_json_round_trip():
    spec = ConvSpec(layout="ncw", in_channels=2, out_channels=4, spatial=9, kernel=3,
                    stride=2, dilation=2, padding=[[1, 2]], groups=2, bias=True, dtype="bfloat16")
    assert spec.layout == "NCW" and spec.kernel == (3,) and spec.padding == ((1, 2),)
    text = json.dumps(spec.to_dict())
    assert ConvSpec.from_dict(json.loads(text)) == spec
    assert ConvSpec.from_json(spec.to_json()) == spec


def test_spec_is_frozen():
    spec = ConvSpec(**BASE)
    with pytest.raises(AttributeError):
        spec.stride = (2, 2)
