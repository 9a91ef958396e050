"""The worked examples of the TensorFlow docs discussion, in the reference and every backend."""

import numpy as np
import pytest

from harness import Unsupported, reference, run_backend
from harness.check import check
from harness.worked_examples import worked_examples
from harness.tolerance import error_bound, judge
from helpers import (FRAMEWORK_BACKENDS, IMPORTS_TENSORFLOW, assert_all_agree, assert_close_to_stated,
                     assert_equivalent, refused_here)

pytestmark = IMPORTS_TENSORFLOW

EXAMPLES = {e.name: e for e in worked_examples()}


@pytest.mark.parametrize("name", [n for n, e in EXAMPLES.items() if e.expected is not None])
def test_reference_reproduces_the_stated_result(name):
    e = EXAMPLES[name]
    assert_close_to_stated(reference(e.spec, e.x, e.w), e.expected, f"reference, {name}")


@pytest.mark.parametrize("backend", FRAMEWORK_BACKENDS)
@pytest.mark.parametrize("name", [n for n, e in EXAMPLES.items() if e.expected is not None])
def test_backend_reproduces_the_stated_result(backend, name):
    """The stated result; where this machine's framework has no kernel for the example's dtype
    (onnxruntime and float64), the declared refusal, and the stated result in float32 within its bound."""
    e = EXAMPLES[name]
    refusal = refused_here(backend, e.spec)
    if refusal is not None:
        with pytest.raises(Unsupported) as info:
            run_backend(backend, e.spec, e.x, e.w)
        assert info.value.refusal is refusal
        spec, x, w = e.spec.replace(dtype="float32"), e.x.astype(np.float32), e.w.astype(np.float32)
        judged = judge(e.expected, run_backend(backend, spec, x, w), error_bound(spec, x, w))
        assert judged.within_bound, f"{backend}, {name} in float32: ratio {judged.ratio}"
        return
    got = run_backend(backend, e.spec, e.x, e.w)
    if e.spec.dtype == "float64":
        assert_close_to_stated(got, e.expected, f"{backend}, {name}")
    else:  # integer data in float32: every product and sum is exact
        np.testing.assert_array_equal(got, e.expected.astype(e.spec.dtype), err_msg=f"{backend}, {name}")


def test_conv1d_sentence_equals_conv2d_on_height_one():
    one_d = EXAMPLES["conv1d sentence, width-2 filter, stride 2, VALID"]
    two_d = EXAMPLES["conv2d sentence reshaped to height 1"]
    bound = error_bound(one_d.spec, one_d.x, one_d.w)
    for backend in FRAMEWORK_BACKENDS:
        if refused_here(backend, one_d.spec):
            continue  # no float64 kernel here: test_backend_reproduces_the_stated_result checks it in float32
        a = run_backend(backend, one_d.spec, one_d.x, one_d.w)
        b = run_backend(backend, two_d.spec, two_d.x, two_d.w)
        assert_equivalent(a, b.reshape(a.shape), bound, backend)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_pointwise_conv1d_with_100_channels_gives_shape_1_1_4(dtype):
    e = next(e for e in worked_examples(dtype) if e.expected is None)
    assert e.spec.output_shape == e.expected_shape == (1, 1, 4)
    result = check(e.spec, inputs=(e.x, e.w, None))
    assert_all_agree(result)
    assert all(o.shape == (1, 1, 4) for o in result.outcomes if o.status != "unsupported")
