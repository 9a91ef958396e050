"""Bad input never escapes as anything but a ValueError naming a field."""

import dataclasses

from hypothesis import given
from hypothesis import strategies as st

from harness import ConvSpec

FIELDS = [f.name for f in dataclasses.fields(ConvSpec)]
values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 12) | st.floats(allow_nan=True) | st.text(max_size=6)
    | st.sampled_from(["NCW", "NHWC", "NDHWC", "same", "valid", "causal", "float16", "bfloat16"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=2),
    max_leaves=8,
)


@given(st.dictionaries(st.sampled_from(FIELDS + ["extra", ""]), values, max_size=len(FIELDS) + 1))
def test_from_dict_builds_a_valid_spec_or_names_a_field(data):
    try:
        spec = ConvSpec.from_dict(data)
    except ValueError as exc:
        message = str(exc)
        named = message.split("=")[0].split(":")[0]
        assert named in FIELDS + ["extra", "", "spec"], message
        assert "\n" not in message
    else:
        assert spec.output_shape and all(n >= 1 for n in spec.output_spatial)
