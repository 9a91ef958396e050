"""Property-based equivalence: every backend agrees with the reference, and the
metamorphic identities hold in every backend, for generated specs."""

import dataclasses

import pytest
from hypothesis import given, note

from harness import ConvSpec, check, make_inputs
from harness.check import reproduce_command
from harness.identities import BY_NAME, check_identity
from harness.strategies import conv_cases
from helpers import FRAMEWORK_BACKENDS, IMPORTS_TENSORFLOW, NEEDS_A_FRAMEWORK, SLOW, assert_all_agree, refused_here
from known_failures import KNOWN_FAILURES, known_failure

pytestmark = IMPORTS_TENSORFLOW


@SLOW
@given(conv_cases())
def test_every_backend_agrees_with_the_reference(case):
    spec, seed = case
    note(reproduce_command(spec, seed))
    assert_all_agree(check(spec, seed))


FILTERS = {
    "conv1d_equals_conv2d_with_height_one": dict(ranks=(1,)),
    "conv2d_equals_conv3d_with_depth_one": dict(ranks=(2,)),
    "channels_first_equals_transposed_channels_last": dict(),
    "same_or_causal_equals_explicit_padding": dict(paddings=("same", "causal")),
    "grouped_equals_concatenated_groups": dict(require=("groups",)),
    "dilation_equals_zero_inserted_kernel": dict(require=("dilation",), transposed=False),
    "stride_equals_subsampled_stride_one": dict(require=("stride",), transposed=False),
    "bias_equals_adding_it_afterwards": dict(bias=True),
    "transposed_equals_conv_of_zero_inserted_input": dict(transposed=True),
    "transposed_equals_gradient_of_forward_conv": dict(transposed=True),
    "padding_mode_equals_padding_first": dict(transposed=False, padding_modes=("reflect", "replicate", "circular")),
}


def identity_test(name):
    identity = BY_NAME[name]

    @SLOW
    @given(conv_cases(**FILTERS[name]))
    def test(case):
        spec, seed = case
        note(reproduce_command(spec, seed, identity=name))
        assert identity.applies(spec), "the strategy draws only specs the identity rewrites"
        x, w, b = make_inputs(spec, seed)
        runs = [spec, *(run.spec for run in identity.rewrite(spec, x, w, b).runs)]
        for backend in ("numpy", *FRAMEWORK_BACKENDS):
            if any(known_failure(backend, s) for s in runs):
                continue  # a known framework bug on one side (tests/known_failures.py)
            outcome = check_identity(identity, backend, spec, x, w, b)
            assert outcome.status in ("pass", "unsupported"), (
                f"{backend}: {name}: {outcome.message}; off the reference: {', '.join(outcome.broken) or 'neither'}"
                f"\n  {reproduce_command(spec, seed, backends=[backend], identity=name)}"
            )

    return test


for _name in FILTERS:
    globals()[f"test_{_name}"] = identity_test(_name)


def test_every_identity_has_a_property_test():
    # the gradient identities' are in tests/test_gradient_properties.py
    assert set(FILTERS) == {name for name, identity in BY_NAME.items() if not identity.gradient}


ONE_D = ConvSpec(layout="NCW", in_channels=4, out_channels=4, spatial=9, kernel=2, stride=2,
                 dilation=2, padding="same", groups=2, bias=True)
TWO_D = ConvSpec(layout="NHWC", in_channels=4, out_channels=4, spatial=(9, 8), kernel=(2, 3),
                 stride=(2, 1), dilation=(2, 1), padding="same", groups=2, bias=True)


TRANSPOSED = ConvSpec(layout="NCHW", in_channels=4, out_channels=6, spatial=(4, 5), kernel=(3, 2), stride=(2, 3),
                      dilation=(1, 2), padding=((1, 2), (0, 1)), output_padding=(1, 1), groups=2, bias=True,
                      transposed=True)
REFLECTED = TWO_D.replace(padding=((2, 1), (1, 1)), padding_mode="reflect")


# the NumPy backend has no autograd: a gradient identity runs in a framework's
@pytest.mark.parametrize("name", [pytest.param(name, marks=NEEDS_A_FRAMEWORK if "gradient" in name else ())
                                  for name in sorted(n for n, identity in BY_NAME.items() if not identity.gradient)])
def test_identity_detects_a_wrong_rewrite(name):
    """Meta test: an identity whose rewrite is off by 1% fails, the true one passes."""
    identity = BY_NAME[name]
    spec = next(s for s in (ONE_D, TWO_D, TRANSPOSED, REFLECTED) if identity.applies(s))
    x, w, b = make_inputs(spec, seed=1)
    backend = "numpy"
    if "gradient" in name:
        backend = FRAMEWORK_BACKENDS[0]

    def broken(spec, x, w, b):
        rewrite = identity.rewrite(spec, x, w, b)
        return dataclasses.replace(rewrite, combine=lambda outputs: rewrite.combine(outputs) * 1.01)

    assert check_identity(identity, backend, spec, x, w, b).status == "pass"
    assert check_identity(dataclasses.replace(identity, rewrite=broken), backend, spec, x, w, b).status == "mismatch"


KNOWN = [pytest.param(known, backend, id=f"{known.name}-{backend}", marks=pytest.mark.needs(backend))
         for known in KNOWN_FAILURES for backend in known.backends]


@pytest.mark.parametrize("known,backend", KNOWN)
def test_known_failure_still_reproduces(known, backend):
    """Each known framework bug still shows on its example; remove the entry once fixed."""
    spec = ConvSpec(**known.example)
    gradient = known.quantity != "y"
    if not known.present(spec):
        other = known_failure(backend, spec, gradients=gradient)
        if other is not None:
            pytest.skip(f"{known.name}: this machine runs {other.name}'s code path, which covers the example")
        outcome = check(spec, backends=[backend], grad=gradient)[backend, known.quantity]
        refused = outcome.status == "unsupported" and refused_here(backend, spec) is not None
        assert outcome.status == "pass" or refused, (
            f"{known.name}: a code path without the bug still fails: {outcome}")
        pytest.skip(f"{known.name}: this machine runs a code path without the bug, and it "
                    + ("refuses the example as declared" if refused else "passes"))
    assert known_failure(backend, spec, gradients=gradient) is known
    seen = []
    for seed in range(known.tries):
        seen.append(check(spec, seed, [backend], grad=gradient)[backend, known.quantity].status)
        if seen[-1] == "mismatch":
            return
    statuses = ", ".join(sorted({status.value for status in seen}))
    pytest.fail(f"{known.name} no longer reproduces ({statuses} in {len(seen)} runs): remove it")
