"""Property-based gradients: every backend's dx, dw and db agree with the float64
reference_vjp (``check(grad=True)``), and the gradient identities hold in every backend,
for generated specs; known framework bugs and declared refusals as the forward tests have them."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, note, settings

from harness import ConvSpec, check, make_inputs
from harness.check import reproduce_command
from harness.gradients import Gradients, reference_vjp
from harness.identities import BY_NAME, check_identity, input_gradient_spec
from harness.inputs import make_cotangent
from harness.reference import reference
from harness.strategies import conv_cases
from helpers import FRAMEWORK_BACKENDS, IMPORTS_TENSORFLOW, LAYER_BACKENDS, SLOW, assert_all_agree
from known_failures import known_failure

pytestmark = IMPORTS_TENSORFLOW

GRADIENT_BACKENDS = (*FRAMEWORK_BACKENDS, *LAYER_BACKENDS)
ONE_D = ConvSpec(layout="NWC", in_channels=4, out_channels=6, spatial=11, kernel=3, stride=3, dilation=1,
                 padding=((2, 1),), groups=2, bias=True)
TWO_D = ConvSpec(layout="NCHW", batch=2, in_channels=4, out_channels=4, spatial=(9, 8), kernel=(2, 3), stride=(2, 1),
                 dilation=(2, 1), padding="same", groups=2, bias=True)
TRANSPOSED = ConvSpec(layout="NHWC", in_channels=4, out_channels=6, spatial=(4, 5), kernel=(3, 2), stride=(2, 3),
                      dilation=(1, 2), padding=((1, 2), (0, 1)), output_padding=(1, 1), groups=2, bias=True,
                      transposed=True)
REFLECTED = ConvSpec(layout="NCW", in_channels=3, out_channels=2, spatial=10, kernel=3, padding=((2, 1),),
                     padding_mode="reflect", bias=True)


@pytest.mark.parametrize("spec", [ONE_D, TWO_D, TRANSPOSED, REFLECTED], ids=["1d", "2d", "transposed", "reflect"])
def test_every_backends_gradients_agree_with_the_reference_on_examples_of_each_kind(spec):
    assert_all_agree(check(spec, 2, ("numpy", *GRADIENT_BACKENDS), grad=True))


# a case runs every backend's output and gradient calls (the layer backends in their worker
# processes): a first call that traces and compiles can outlast the profile's deadline
@SLOW
@settings(deadline=None)
@given(conv_cases())
def test_every_backends_gradients_agree_with_the_reference(case):
    spec, seed = case
    note(reproduce_command(spec, seed, grad=True))
    assert_all_agree(check(spec, seed, ("numpy", *GRADIENT_BACKENDS), grad=True))


GRADIENT_FILTERS = {
    "conv1d_gradient_equals_conv2d_gradient_with_height_one": dict(ranks=(1,)),
    "input_gradient_equals_transposed_conv_of_dy_with_flipped_kernel": dict(transposed=False,
                                                                          padding_modes=("zeros",)),
}


def gradient_identity_test(name):
    identity = BY_NAME[name]

    @SLOW
    @settings(deadline=None)
    @given(conv_cases(**GRADIENT_FILTERS[name]))
    def test(case):
        spec, seed = case
        note(reproduce_command(spec, seed, identity=name))
        assert identity.applies(spec), "the strategy draws only specs the identity rewrites"
        x, w, b = make_inputs(spec, seed)
        dy = make_cotangent(spec, seed)
        runs = [spec, *(run.spec for run in identity.rewrite(spec, x, w, b, dy).runs)]
        for backend in GRADIENT_BACKENDS:
            if any(known_failure(backend, s, gradients=True) for s in runs):
                continue  # a known framework bug on one side (tests/known_failures.py)
            outcome = check_identity(identity, backend, spec, x, w, b, dy)
            assert outcome.status in ("pass", "unsupported"), (
                f"{backend}: {name}: {outcome.message}; off the reference: {', '.join(outcome.broken) or 'neither'}"
                f"\n  {reproduce_command(spec, seed, backends=[backend], identity=name)}")

    return test


for _name in GRADIENT_FILTERS:
    globals()[f"test_{_name}"] = gradient_identity_test(_name)


def test_every_gradient_identity_has_a_property_test():
    assert set(GRADIENT_FILTERS) == {name for name, identity in BY_NAME.items() if identity.gradient}


@pytest.mark.parametrize("name", sorted(GRADIENT_FILTERS))
@pytest.mark.parametrize("backend", FRAMEWORK_BACKENDS)
def test_a_gradient_identity_holds_and_fails_once_its_rewrite_is_off_by_one_percent(name, backend):
    identity = BY_NAME[name]
    spec = ConvSpec(layout="NWC", in_channels=4, out_channels=6, spatial=11, kernel=3, stride=2, groups=2, bias=True)
    x, w, b = make_inputs(spec, 1)
    dy = make_cotangent(spec, 1)
    scaled = lambda got: Gradients(*(None if a is None else a * 1.01 for a in got))  # noqa: E731

    def broken(*args):
        rewrite = identity.rewrite(*args)
        return dataclasses.replace(rewrite, combine=lambda outputs: scaled(rewrite.combine(outputs)))

    honest = check_identity(identity, backend, spec, x, w, b, dy)
    if honest.status == "unsupported":  # a declared refusal: onnxruntime runs forward only
        pytest.skip(honest.message)
    assert honest.status == "pass", honest
    off = check_identity(dataclasses.replace(identity, rewrite=broken), backend, spec, x, w, b, dy)
    assert off.status == "mismatch" and off.broken == ("rewrite",), off


def test_the_input_gradients_transposed_conv_covers_the_inputs_no_window_reached():
    # length 10, kernel 3, stride 3: windows at 0, 3 and 6 reach position 8; position 9 is
    # reached by none, so the transposed conv of the 3 outputs ((3-1)*3 + 3 = 9) needs one more
    spec = ConvSpec(layout="NCW", in_channels=1, out_channels=1, spatial=10, kernel=3, stride=3)
    dual = input_gradient_spec(spec)
    assert (dual.spatial, dual.output_padding, dual.output_shape) == ((3,), (1,), spec.input_shape)
    x, w, _ = make_inputs(spec, 0)
    dy = make_cotangent(spec, 0)
    dx = reference(dual, dy.astype(np.float64), w.astype(np.float64), None)
    np.testing.assert_allclose(dx, reference_vjp(spec, x, w, None, dy).dx, rtol=1e-12, atol=1e-15)
    assert dx[0, 0, 9] == 0  # the position no window reached gets no gradient
