"""Backend gradients: each framework's own autodiff of its convolution (``harness.backend_vjp``)
against PyTorch's float64 autograd of the same convolution, written here from the spec's
definition; the declared gradient refusals; the gradient call as code that reruns."""


import numpy as np
import pytest
from hypothesis import given, note

from harness import ConvSpec, Unsupported, backend_vjp, gradient_bounds, make_inputs, reference
from harness.backends import REGISTRY, Entry, get_backend
from harness.check import reproduce_command
from harness.inputs import make_cotangent
from harness.dtypes import numpy_dtype, to_float64
from harness.strategies import conv_cases
from helpers import FRAMEWORK_BACKENDS, IMPORTS_TENSORFLOW, LAYER_BACKENDS, SLOW, assert_equivalent, refused_here
from known_failures import known_failure

pytestmark = IMPORTS_TENSORFLOW

TORCH_PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate", "circular": "circular"}


def torch_float64_vjp(spec: ConvSpec, x, w, b, dy):
    """The golden gradient: PyTorch's float64 autograd of ``spec``'s convolution, composed here
    from the definition (the input padded in its mode, then the conv; a transposed conv's full
    output, zero-extended where output_padding reaches past it, then cropped), and checked
    against the float64 forward reference. ``(dx, dw, db)`` in the spec's layout and the
    neutral weight order."""
    import torch

    F = torch.nn.functional
    leaves = [torch.tensor(to_float64(a), requires_grad=True) for a in (x, w, *(() if b is None else (b,)))]
    xt, wt = leaves[0], leaves[1]
    channels = (lambda t: t.movedim(-1, 1)) if spec.channels_last else (lambda t: t)
    r, pads = spec.rank, [p for pair in reversed(spec.explicit_padding) for p in pair]
    if spec.transposed:
        full = getattr(F, f"conv_transpose{r}d")(channels(xt), wt, stride=spec.stride, dilation=spec.dilation,
                                                 groups=spec.groups)
        grown = F.pad(full, [p for past in reversed(spec.past_full_output) for p in (0, past)])
        y = grown[(slice(None), slice(None), *(slice(begin, begin + n) for (begin, _), n in
                                               zip(spec.explicit_padding, spec.output_spatial)))]
    else:
        padded = F.pad(channels(xt), pads, mode=TORCH_PAD_MODES[spec.padding_mode])
        y = getattr(F, f"conv{r}d")(padded, wt, stride=spec.stride, dilation=spec.dilation, groups=spec.groups)
    if b is not None:
        y = y + leaves[2].reshape(1, -1, *([1] * r))
    y = y.movedim(1, -1) if spec.channels_last else y
    np.testing.assert_allclose(y.detach().numpy(), reference(spec, x, w, b), rtol=1e-12, atol=1e-12,
                               err_msg="the golden's forward pass is not the spec's convolution")
    gradients = torch.autograd.grad(y, leaves, torch.tensor(to_float64(dy)))
    return (*(g.numpy() for g in gradients), *((None,) if b is None else ()))


def assert_gradients_agree(backend: str, spec: ConvSpec, seed: int = 0):
    """``backend``'s gradients of ``spec`` equal the golden within the gradient bounds (each
    side within them of the truth), or ``backend`` refuses as declared; where a probed
    refusal is present here it must refuse. Returns the gradients, or None for a refusal."""
    x, w, b = make_inputs(spec, seed)
    dy = make_cotangent(spec, seed)
    try:
        got = backend_vjp(backend, spec, x, w, b, dy)
    except Unsupported:
        return None
    expected_refusal = refused_here(backend, spec, gradient=True)
    assert expected_refusal is None, f"{backend}: {expected_refusal.name} is present here but did not refuse"
    golden = torch_float64_vjp(spec, x, w, b, dy)
    bounds = gradient_bounds(spec, x, w, b, dy)
    assert (got.db is None) == (b is None), f"{backend}: db is {type(got.db).__name__} with bias={spec.bias}"
    for name, value, truth, bound in zip(("dx", "dw", "db"), got, golden, bounds):
        if truth is not None:
            assert value.dtype == numpy_dtype(spec.dtype), f"{backend}: {name} is {value.dtype}, not {spec.dtype}"
            assert_equivalent(value, truth, bound, f"{backend} {name} of {spec.describe()}")
    return got


EXAMPLES = {
    "conv1d_causal_strided_grouped_bias": ConvSpec(
        layout="NWC", batch=2, in_channels=4, out_channels=6, spatial=9, kernel=3, stride=2, padding="causal",
        groups=2, bias=True),
    "conv2d_same_dilated_channels_first": ConvSpec(
        layout="NCHW", batch=2, in_channels=3, out_channels=4, spatial=(7, 6), kernel=(3, 2), dilation=(2, 1),
        padding="same", bias=True),
    "conv2d_asymmetric_reflect": ConvSpec(
        layout="NHWC", in_channels=2, out_channels=3, spatial=(6, 5), kernel=3, stride=(2, 1),
        padding=((1, 2), (2, 0)), padding_mode="reflect", bias=True),
    "conv2d_replicate_depthwise": ConvSpec(
        layout="NCHW", in_channels=3, out_channels=6, spatial=5, kernel=3, padding=1, padding_mode="replicate",
        groups=3, dtype="float64"),
    "conv1d_circular": ConvSpec(
        layout="NCW", in_channels=2, out_channels=2, spatial=6, kernel=3, padding="same", padding_mode="circular"),
    "conv3d_valid_strided": ConvSpec(
        layout="NDHWC", in_channels=2, out_channels=2, spatial=(4, 5, 4), kernel=2, stride=(1, 2, 1),
        bias=True, dtype="float64"),
    "transposed_conv2d_output_padding": ConvSpec(
        layout="NCHW", batch=2, in_channels=2, out_channels=3, spatial=(4, 3), kernel=3, stride=2,
        padding=((1, 2), (0, 1)), output_padding=(1, 0), bias=True, transposed=True),
    "transposed_conv1d_grouped_dilated": ConvSpec(
        layout="NWC", in_channels=4, out_channels=2, spatial=5, kernel=2, stride=2, dilation=2, groups=2,
        padding="valid", output_padding=1, transposed=True, dtype="float64"),
}
GRADIENT_BACKENDS = (*FRAMEWORK_BACKENDS, *LAYER_BACKENDS)


@pytest.mark.parametrize("name", EXAMPLES)
@pytest.mark.parametrize("backend", GRADIENT_BACKENDS)
def test_backend_gradients_agree_with_torch_float64_autograd(backend, name):
    assert_gradients_agree(backend, EXAMPLES[name])


@pytest.fixture(scope="module")
def loaded():
    """Every backend's framework imported (a Keras worker started) before the examples' clocks start."""
    for backend in GRADIENT_BACKENDS:
        get_backend(backend).load()


@SLOW
@pytest.mark.parametrize("backend", GRADIENT_BACKENDS)
@given(case=conv_cases(dtypes=("float32", "float64")))
def test_every_backend_gradient_agrees_with_torch_float64_autograd_on_generated_specs(loaded, backend, case):
    spec, seed = case
    note(reproduce_command(spec, seed, backends=[backend]))
    # not a spec that kills the framework's process, nor one whose forward pass has a known bug
    if get_backend(backend).crash(spec) is None and known_failure(backend, spec, gradients=True) is None:
        assert_gradients_agree(backend, spec, seed)


FLIPPED_SPEC = ConvSpec(layout="NCHW", batch=2, in_channels=2, out_channels=3, spatial=5, kernel=3, bias=True)


@pytest.mark.needs("torch")
def test_a_backend_whose_weight_gradient_is_flipped_fails_the_comparison(monkeypatch):
    monkeypatch.setitem(REGISTRY, "flipped_weight_gradient", Entry("fake_backends:FlippedWeightGradient", "torch"))
    assert_gradients_agree("torch", FLIPPED_SPEC)  # the same call without the mistake agrees
    with pytest.raises(AssertionError, match=r"^flipped_weight_gradient dw of .*x the bound"):
        assert_gradients_agree("flipped_weight_gradient", FLIPPED_SPEC)


def test_backend_vjp_returns_no_bias_gradient_without_a_bias():
    backend = next(iter(FRAMEWORK_BACKENDS))
    spec = EXAMPLES["conv1d_circular"]
    dx, dw, db = assert_gradients_agree(backend, spec)
    assert db is None and dx.shape == spec.input_shape and dw.shape == spec.weight_shape


GRADIENT_DECLARED = [
    (name, refusal) for name in ("numpy", *GRADIENT_BACKENDS) for refusal in get_backend(name).gradient_refusals]


@pytest.mark.parametrize("backend,refusal", GRADIENT_DECLARED, ids=[f"{b}-{r.name}" for b, r in GRADIENT_DECLARED])
def test_declared_gradient_refusal_is_what_the_framework_does(backend, refusal):
    """Each declared refusal of a framework's autodiff is refused on its example where its
    code path runs here (its probe), and the gradient is right where it does not; a
    declaration whose code path runs here and no longer refuses fails."""
    spec = ConvSpec(**refusal.example)
    assert refusal.applies(spec)
    x, w, b = make_inputs(spec)
    try:
        backend_vjp(backend, spec, x, w, b, make_cotangent(spec))
    except Unsupported as refused:
        assert refusal.present(spec), f"{refusal.name}: refused where its probe says the code path computes"
        assert refused.refusal is refusal, refused
        assert "{{function_node" not in refused.framework_message
        return
    assert not refusal.present(spec), (
        f"{backend} {get_backend(backend).version()} no longer refuses ({refusal.reason}): remove the declaration, "
        "or narrow its probe (Refusal.present) to the code paths that still refuse")
    assert_gradients_agree(backend, spec)


RERUN = ("torch", "torch.nn", "tensorflow", "jax")


@pytest.mark.parametrize("name", ["conv2d_asymmetric_reflect", "transposed_conv2d_output_padding"])
@pytest.mark.parametrize("backend", [b for b in RERUN if b in FRAMEWORK_BACKENDS])
def test_the_rendered_gradient_call_reruns_as_standalone_code_to_the_same_arrays(backend, name):
    spec = EXAMPLES[name]  # float32: a float64 jax call would switch x64 on for this whole process
    x, w, b = make_inputs(spec)
    dy = make_cotangent(spec)
    gradients, call = get_backend(backend).gradients(spec, x, w, b, dy)
    code = call.standalone()
    assert call.native in code.splitlines() and ("grad" in call.native or "vjp" in call.native), call.native
    namespace = {"np": np, "x": x, "w": w, "b": b, "dy": dy}
    exec(code, namespace)  # noqa: S102 - the call as a user pastes it
    for name_, value in zip(("dx", "dw", "db"), gradients):
        np.testing.assert_array_equal(namespace[name_], value, err_msg=f"{backend} {name_}\n{code}")
