"""The layer backends (Keras 3 under each Keras backend, Flax NNX): the seed's
worked examples, the output shapes and agreement in every layout and padding,
and Keras' transposed rule (their declared refusals: test_backends.py)."""

import itertools

import numpy as np
import pytest

from harness import ConvSpec, Unsupported, check, run_backend
from harness.frameworks.keras.adapter import keras_transposed_arguments, transposed_crop
from harness.frameworks.flax.adapter import flax_mode_pads
from harness.worked_examples import worked_examples
from helpers import IMPORTS_TENSORFLOW, LAYER_BACKENDS, SLOW, assert_all_agree, refused_here

pytestmark = [IMPORTS_TENSORFLOW, pytest.mark.needs(one_of=("keras.tensorflow", "keras.jax", "keras.torch", "flax"))]

EXAMPLES = [e for e in worked_examples() if e.expected is not None]


@pytest.mark.parametrize("backend", LAYER_BACKENDS)
@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_layer_reproduces_the_stated_result(backend, example):
    """The worked example's stated result, or, where this machine has no kernel for it (Keras on
    TensorFlow's Eigen kernels and a channels-first example), the declared refusal."""
    refusal = refused_here(backend, example.spec)
    if refusal is not None:
        with pytest.raises(Unsupported) as info:
            run_backend(backend, example.spec, example.x, example.w)
        assert info.value.refusal is refusal
        return
    got = run_backend(backend, example.spec, example.x, example.w)
    np.testing.assert_allclose(np.asarray(got, np.float64), example.expected, rtol=1e-6, atol=1e-6)


LAYOUTS = ["NCW", "NWC", "NCHW", "NHWC", "NCDHW", "NDHWC"]
CASES = [(layout, padding, stride) for layout in LAYOUTS
         for padding in ["valid", "same", ((1, 2),) * (len(layout) - 2)] + (["causal"] if len(layout) == 3 else [])
         for stride in (1, 2)]


@SLOW
@pytest.mark.parametrize("layout,padding,stride", CASES)
def test_every_layer_backend_gives_the_spec_output_shape_and_agrees(layout, padding, stride):
    rank = len(layout) - 2
    spec = ConvSpec(layout=layout, batch=2, in_channels=2, out_channels=3, spatial=(7, 6, 5)[:rank],
                    kernel=(2, 3, 2)[:rank], stride=stride, padding=padding, bias=True)
    result = check(spec, seed=3, backends=LAYER_BACKENDS)
    assert_all_agree(result)
    for outcome in result.outcomes:
        if outcome.status != "unsupported":
            assert outcome.shape == spec.output_shape, (outcome.backend, outcome.shape)


@pytest.mark.parametrize("kernel,stride,padding", list(itertools.product((1, 2, 3, 4), (1, 2, 3), ("valid", "same"))))
def test_keras_transposed_rule_is_found_back_from_its_crop(kernel, stride, padding):
    """The arguments found for a spec built from Keras' rule give that rule's crop again."""
    crop, extra = transposed_crop(kernel, stride, 1, padding, None)
    spec = ConvSpec(layout="NWC", in_channels=1, out_channels=1, spatial=4, kernel=kernel, stride=stride,
                    padding=(crop,), output_padding=extra, transposed=True)
    found = keras_transposed_arguments(spec)
    assert found is not None
    op = found["output_padding"]
    assert transposed_crop(kernel, stride, 1, found["padding"], None if op is None else op[0]) == (crop, extra)


@pytest.mark.needs("flax")
@pytest.mark.parametrize("mode", ["circular", "reflect", "replicate"])
def test_flax_pads_by_its_own_string_where_it_pads_the_spec_pairs_and_by_jnp_pad_elsewhere(mode):
    own = ConvSpec(layout="NHWC", in_channels=2, out_channels=3, spatial=(6, 5), kernel=(3, 2), padding="same",
                   padding_mode=mode, bias=True)  # 'same' at stride 1: ((e-1)//2, e//2), Flax's own pads
    other = own.replace(padding=((2, 1), (1, 1)))
    assert own.explicit_padding == flax_mode_pads(own) and other.explicit_padding != flax_mode_pads(other)
    for spec, native in ((own, mode != "replicate"), (other, False)):
        (outcome,) = check(spec, seed=2, backends=["flax"]).outcomes
        assert outcome.status == "pass", outcome
        assert (f"padding='{mode.upper()}'" in outcome.native) == native
        assert ("jax.numpy.pad" in outcome.call) == (not native)
