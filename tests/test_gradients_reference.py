"""The float64 reference of the backward pass (harness.reference_vjp) against sources
outside it: central differences of the forward reference, the adjoint identity, gradients
worked by hand, and PyTorch's float64 autograd; and its bounds against PyTorch's float32
gradients, with a flipped weight gradient caught."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

from harness import ConvSpec, gradient_bounds, make_inputs, reference, reference_vjp
from harness.dtypes import eps
from harness.gradients import gradient_lengths
from harness.layouts import from_channels_first, to_channels_first
from harness.strategies import conv_cases
from harness.tolerance import C
from helpers import SLOW, imported


# The loss <conv(x, w, b), dy> is linear in each of x, w and b, so a central difference is
# exact but for rounding: two float64 sums of a few hundred terms, divided by the step.
STEP = 0.5
# The adjoint identity's two sides are float64 sums of the same products in other orders.
ADJOINT_RTOL = 1e-12


def _f64(spec: ConvSpec, **changes) -> ConvSpec:
    return spec.replace(dtype="float64", **changes)


def _cotangent(spec: ConvSpec, seed: int) -> np.ndarray:
    return np.random.default_rng(seed + 1).uniform(-1.0, 1.0, spec.output_shape).astype(spec.dtype)


# one small spec of every kind: ranks, layouts, stride, dilation, groups, each padding kind and mode, transposed
EVERY_KIND = {
    "conv1d valid": ConvSpec(layout="NCW", batch=2, in_channels=2, out_channels=3, spatial=7, kernel=3, bias=True),
    "conv1d NWC stride dilation": ConvSpec(layout="NWC", in_channels=2, out_channels=2, spatial=9, kernel=2,
                                           stride=2, dilation=3),
    "conv1d causal": ConvSpec(layout="NCW", in_channels=1, out_channels=2, spatial=5, kernel=3, dilation=2,
                              padding="causal", bias=True),
    "conv1d same even kernel": ConvSpec(layout="NCW", in_channels=2, out_channels=2, spatial=6, kernel=4,
                                        stride=3, padding="same"),
    "conv1d reflect": ConvSpec(layout="NCW", in_channels=2, out_channels=1, spatial=5, kernel=3,
                               padding=((2, 3),), padding_mode="reflect"),
    "conv1d replicate": ConvSpec(layout="NWC", in_channels=1, out_channels=2, spatial=4, kernel=2, stride=2,
                                 padding=((3, 1),), padding_mode="replicate", bias=True),
    "conv1d circular": ConvSpec(layout="NCW", in_channels=2, out_channels=2, spatial=4, kernel=3, dilation=2,
                                padding=((4, 2),), padding_mode="circular"),
    "conv2d groups": ConvSpec(layout="NCHW", in_channels=4, out_channels=6, spatial=(5, 4), kernel=(2, 3),
                              groups=2, bias=True),
    "conv2d NHWC depthwise same stride": ConvSpec(layout="NHWC", in_channels=3, out_channels=6, spatial=(5, 6),
                                                  kernel=3, stride=(2, 1), padding="same", groups=3),
    "conv2d explicit asymmetric dilation": ConvSpec(layout="NCHW", in_channels=2, out_channels=2, spatial=(4, 5),
                                                    kernel=2, dilation=(2, 1), padding=((0, 2), (1, 0))),
    "conv2d reflect stride": ConvSpec(layout="NHWC", in_channels=2, out_channels=2, spatial=(4, 5), kernel=3,
                                      stride=2, padding=((1, 2), (2, 1)), padding_mode="reflect", bias=True),
    "conv2d circular": ConvSpec(layout="NCHW", in_channels=1, out_channels=2, spatial=(3, 4), kernel=2,
                                padding=((1, 1), (2, 0)), padding_mode="circular"),
    "conv3d": ConvSpec(layout="NCDHW", in_channels=2, out_channels=2, spatial=(3, 4, 3), kernel=2,
                       stride=(1, 2, 1), padding="same", bias=True),
    "conv3d NDHWC groups replicate": ConvSpec(layout="NDHWC", in_channels=2, out_channels=4, spatial=3, kernel=2,
                                              groups=2, padding=((1, 0), (0, 1), (1, 1)),
                                              padding_mode="replicate"),
    "conv_transpose1d output_padding": ConvSpec(layout="NCW", batch=2, in_channels=2, out_channels=3, spatial=4,
                                                kernel=3, stride=2, padding=((1, 2),), output_padding=1,
                                                transposed=True, bias=True),
    "conv_transpose1d NWC dilation output_padding past the full output": ConvSpec(
        layout="NWC", in_channels=2, out_channels=2, spatial=3, kernel=2, stride=1, dilation=3,
        output_padding=2, transposed=True),
    "conv_transpose2d groups same": ConvSpec(layout="NCHW", in_channels=4, out_channels=2, spatial=(3, 2),
                                             kernel=(3, 2), stride=2, padding="same", groups=2, transposed=True,
                                             bias=True),
    "conv_transpose2d NHWC stride dilation": ConvSpec(layout="NHWC", in_channels=2, out_channels=2, spatial=3,
                                                      kernel=2, stride=(3, 2), dilation=(1, 2),
                                                      padding=((2, 0), (1, 1)), output_padding=(1, 1),
                                                      transposed=True),
    "conv_transpose3d": ConvSpec(layout="NCDHW", in_channels=2, out_channels=2, spatial=2, kernel=2, stride=2,
                                 padding=((1, 0), (0, 0), (0, 1)), output_padding=(0, 1, 1), transposed=True,
                                 bias=True),
}


def central_differences(spec: ConvSpec, x, w, b, dy):
    """d<conv(x, w, b), dy> / d(each element of x, w and b), by central differences of the forward reference."""
    arrays = [x, w, b]

    def loss(index, array):
        args = list(arrays)
        args[index] = array
        return float(np.vdot(reference(spec, *args), dy))

    found = []
    for index, array in enumerate(arrays):
        if array is None:
            found.append(None)
            continue
        grad = np.empty_like(array)
        for element in np.ndindex(array.shape):
            plus, minus = array.copy(), array.copy()
            plus[element] += STEP
            minus[element] -= STEP
            grad[element] = (loss(index, plus) - loss(index, minus)) / (2 * STEP)
        found.append(grad)
    return found


@pytest.mark.parametrize("name", EVERY_KIND)
def test_reference_vjp_equals_central_differences_of_the_forward_reference(name):
    spec = _f64(EVERY_KIND[name])
    x, w, b = make_inputs(spec, seed=3)
    dy = _cotangent(spec, seed=3)
    # the rounding of a loss is at most a few hundred eps of its terms' magnitude, over the step
    scale = float(np.vdot(reference(spec, np.abs(x), np.abs(w), None if b is None else np.abs(b)), np.abs(dy)))
    limit = 1e3 * np.finfo(np.float64).eps * scale / STEP
    got = reference_vjp(spec, x, w, b, dy)
    for what, numeric, exact in zip(("dx", "dw", "db"), central_differences(spec, x, w, b, dy), got):
        if numeric is None:
            assert exact is None, f"{what}: given without a bias"
            continue
        assert exact.shape == numeric.shape, f"{what}: shape {exact.shape}, central differences {numeric.shape}"
        error = np.abs(exact - numeric)
        assert error.max() <= limit, (
            f"{name} {what}: off by {error.max():.3g} at {np.unravel_index(error.argmax(), error.shape)} "
            f"(limit {limit:.3g})")


@given(conv_cases(dtypes=("float64",)))
def test_the_gradients_are_the_adjoint_of_the_convolution(case):
    # <conv(x, w), g> = <x, dx(g)> = <w, dw(g)>, and the bias part <b-broadcast, g> = <b, db(g)>
    spec, seed = case
    x, w, b = make_inputs(spec, seed)
    dy = _cotangent(spec, seed)
    dx, dw, db = reference_vjp(spec, x, w, b, dy)
    forward = float(np.vdot(reference(spec, x, w), dy))
    scale = float(np.vdot(reference(spec, np.abs(x), np.abs(w)), np.abs(dy)))  # the products' magnitudes
    for what, other in (("<x, dx>", np.vdot(x, dx)), ("<w, dw>", np.vdot(w, dw))):
        assert abs(forward - other) <= ADJOINT_RTOL * scale, (
            f"{spec.describe()}: <conv(x, w), dy> = {forward!r}, {what} = {other!r}")
    if spec.bias:
        zero = np.zeros_like(x)
        bias_part = float(np.vdot(reference(spec, zero, w, b), dy))  # b broadcast over the output
        bias_scale = float(np.vdot(reference(spec, zero, w, np.abs(b)), np.abs(dy)))
        assert abs(bias_part - np.vdot(b, db)) <= ADJOINT_RTOL * bias_scale
    else:
        assert db is None


# Worked by hand: y[o] = sum_k x[o*s + k] w[k] over the (padded) input, dy given.
#   valid, x = [1, 2, 3, 4], w = [1, -1, 2], dy = [1, 10]:
#     dx[i] = sum_o dy[o] w[i - o] = [1, -1 + 10, 2 - 10, 20];  dw[k] = sum_o dy[o] x[o + k] = [1 + 20, 2 + 30, 3 + 40]
#   reflect pad 1, stride 2, x = [1, 2, 3] -> xpad = [2, 1, 2, 3, 2], w = [3, 5], dy = [1, 10]:
#     dxpad = [3, 5, 30, 50, 0]; xpad[0] and xpad[2] copy x[1], so dx = [5, 3 + 30, 50];
#     dw = [1*2 + 10*2, 1*1 + 10*3]
#   transposed, stride 2, crop (1, 1), output_padding 1, x = [1, 2], w = [3, 5]:
#     full y = [3, 5, 6, 10], y = [5, 6, 10]; dy = [1, 2, 3] goes back to [0, 1, 2, 3] in the full output;
#     dx[i] = sum_k full_dy[2i + k] w[k] = [0*3 + 1*5, 2*3 + 3*5]; dw[k] = sum_i x[i] full_dy[2i + k] = [0 + 4, 1 + 6]
BY_HAND = {
    "valid": (dict(spatial=4, kernel=3, bias=True), [1, 2, 3, 4], [1, -1, 2], [1, 10],
              [1, 9, -8, 20], [21, 32, 43], [11]),
    "reflect stride 2": (dict(spatial=3, kernel=2, stride=2, padding=1, padding_mode="reflect"), [1, 2, 3], [3, 5],
                         [1, 10], [5, 33, 50], [22, 31], None),
    "transposed crop output_padding": (dict(spatial=2, kernel=2, stride=2, padding=1, output_padding=1,
                                            transposed=True), [1, 2], [3, 5], [1, 2, 3], [5, 21], [4, 7], None),
}


@pytest.mark.parametrize("name", BY_HAND)
def test_reference_vjp_equals_gradients_worked_by_hand(name):
    fields, x, w, dy, dx, dw, db = BY_HAND[name]
    spec = ConvSpec(layout="NCW", in_channels=1, out_channels=1, dtype="float64", **fields)
    row = lambda values: np.array(values, np.float64).reshape(1, 1, -1)  # noqa: E731
    got = reference_vjp(spec, row(x), row(w), np.zeros(1) if spec.bias else None, row(dy))
    assert got.dx.tolist() == row(dx).tolist()
    assert got.dw.tolist() == row(dw).tolist()
    assert (got.db is None) if db is None else (got.db.tolist() == db)


def test_reference_vjp_names_a_cotangent_that_does_not_fit():
    spec = EVERY_KIND["conv1d valid"]
    x, w, b = make_inputs(spec)
    with pytest.raises(ValueError, match=r"^dy: shape \(2, 3, 4\) does not fit the spec, which needs \(2, 3, 5\)$"):
        reference_vjp(spec, x, w, b, np.zeros((2, 3, 4)))


# -- PyTorch's autograd: another framework's gradients as the golden source ---------------------------------------

TORCH_PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate", "circular": "circular"}


def _torch_pads(pairs) -> list[int]:
    """(before, after) per spatial axis in F.pad's order: the last axis first."""
    return [p for pair in reversed(pairs) for p in pair]


def torch_gradients(torch, spec: ConvSpec, x, w, b, dy):
    """PyTorch's autograd of the spec's convolution written with torch.nn.functional, in the spec's dtype:
    the pad (or, transposed, the crop and the zero extension) done by F.pad, the bias added last."""
    functional = torch.nn.functional
    tensor = lambda a: torch.tensor(np.asarray(a), requires_grad=True)  # noqa: E731
    tx, tw = tensor(to_channels_first(x, spec.channels_last)), tensor(w)
    options = dict(stride=spec.stride, dilation=spec.dilation, groups=spec.groups)
    if spec.transposed:
        full = getattr(functional, f"conv_transpose{spec.rank}d")(tx, tw, **options)
        pads = [(-before, extra - after) for (before, after), extra in zip(
            spec.explicit_padding, spec.explicit_output_padding)]
        y = functional.pad(full, _torch_pads(pads))  # negative pads crop
    else:
        padded = functional.pad(tx, _torch_pads(spec.explicit_padding), mode=TORCH_PAD_MODES[spec.padding_mode])
        y = getattr(functional, f"conv{spec.rank}d")(padded, tw, **options)
    inputs = [tx, tw]
    if b is not None:
        tb = tensor(b)
        y = y + tb.reshape(-1, *([1] * spec.rank))
        inputs.append(tb)
    grads = torch.autograd.grad(y, inputs, torch.tensor(to_channels_first(dy, spec.channels_last)))
    dx, dw, *db = (g.detach().numpy() for g in grads)
    return from_channels_first(dx, spec.channels_last), dw, db[0] if db else None


@pytest.fixture(scope="module")
def torch():
    """PyTorch, a golden source here (its float64 autograd), or the test skipped with the install hint."""
    return imported("torch")


def assert_torch_within_the_bounds(torch, spec: ConvSpec, seed: int) -> None:
    """PyTorch's autograd in the spec's dtype lies within gradient_bounds of reference_vjp, gradient by gradient."""
    x, w, b = make_inputs(spec, seed)
    dy = _cotangent(spec, seed)
    for what, expected, got, bound in zip(("dx", "dw", "db"), reference_vjp(spec, x, w, b, dy),
                                          torch_gradients(torch, spec, x, w, b, dy), gradient_bounds(spec, x, w, b, dy)):
        if expected is None:
            assert got is None and bound is None, f"{what}: given without a bias"
            continue
        assert got.shape == expected.shape, f"{what}: shape {got.shape}, reference {expected.shape}"
        error = np.abs(got.astype(np.float64) - expected)
        worst = np.unravel_index(np.argmax(error / bound), error.shape)
        assert error[worst] <= bound[worst], (
            f"{spec.describe()} {what}: off by {error[worst]:.3g} at {worst}, {error[worst] / bound[worst]:.3g} x "
            f"the bound {bound[worst]:.3g}")


@SLOW
@given(conv_cases(dtypes=("float64",)))
def test_reference_vjp_equals_torch_float64_autograd(torch, case):
    assert_torch_within_the_bounds(torch, *case)


@pytest.mark.parametrize("name", EVERY_KIND)
def test_reference_vjp_equals_torch_float64_autograd_on_every_kind(torch, name):
    # the Hypothesis draws above may miss a kind, these are fixed
    assert_torch_within_the_bounds(torch, _f64(EVERY_KIND[name]), seed=5)


# -- the bounds: float32 gradients fall within them, a flipped weight gradient does not ---------------------------

@SLOW
@given(conv_cases(dtypes=("float32",)))
def test_torch_float32_gradients_fall_within_the_bounds(torch, case):
    assert_torch_within_the_bounds(torch, *case)


@given(conv_cases(dtypes=("float32",)), st.data())
def test_a_weight_gradient_with_a_kernel_axis_flipped_exceeds_the_bound(case, data):
    # a backend's float32 dw, right but for one kernel axis read backwards
    spec, seed = case
    axes = [2 + axis for axis, k in enumerate(spec.kernel) if k > 1]
    assume(axes)
    x, w, b = make_inputs(spec, seed)
    dy = _cotangent(spec, seed)
    axis = data.draw(st.sampled_from(axes), label="flipped axis")
    expected = reference_vjp(spec, x, w, b, dy).dw
    # a kernel whose taps on that axis see the same data (only padding at both ends, mirrored) flips unseen
    assume(not np.array_equal(np.flip(expected, axis), expected))
    flipped = np.flip(expected.astype(spec.dtype), axis)
    bound = gradient_bounds(spec, x, w, b, dy).dw
    assert np.any(np.abs(flipped.astype(np.float64) - expected) > bound), spec.describe()


# -- the bounds' formula, counted and summed by hand ----------------------------------------------------------------

GROUPED = ConvSpec(layout="NCW", batch=2, in_channels=4, out_channels=4, groups=2, spatial=7, kernel=3, stride=2,
                   bias=True)


def test_gradient_lengths_count_the_products_of_each_sum():
    # 3 outputs. dx: the 2 output channels of its group x the taps landing on one position (kernel 3, stride 2:
    # taps 0 and 2 land on even positions, tap 1 on odd ones, so 2 at most); dw and db: batch 2 x 3 outputs
    assert gradient_lengths(GROUPED) == (4, 6, 6)
    # reflect pad 1 (4 outputs): an input position also gets the gradients of its copies before and after
    assert gradient_lengths(GROUPED.replace(padding=1, padding_mode="reflect")) == (4 + 2, 8, 8)
    # transposed (16 outputs): dx sums 2 channels x 3 taps; dw runs over batch 2 x 7 input positions
    assert gradient_lengths(GROUPED.replace(transposed=True, output_padding=1)) == (6, 14, 32)


def test_gradient_bounds_follow_the_stated_formula():
    x, w, b = (a.astype(np.float64) for a in make_inputs(GROUPED, seed=7))
    dy = _cotangent(GROUPED, seed=7).astype(np.float64)
    bounds = gradient_bounds(GROUPED, x, w, b, dy)
    tf32 = gradient_bounds(GROUPED, x, w, b, dy, precision="tf32")
    bound = lambda k, m: (C * k + 1) * (eps("float32") * m + 2.0 ** -149)  # noqa: E731
    # dx[0, 0, 2]: output 1 with tap 0 and output 0 with tap 2, over output channels 0 and 1 (group 0)
    dx = sum(abs(dy[0, f, 1] * w[f, 0, 0]) + abs(dy[0, f, 0] * w[f, 0, 2]) for f in (0, 1))
    assert np.isclose(bounds.dx[0, 0, 2], bound(4, dx))
    u = 2.0 ** -10  # x, w and dy rounded to TF32 before their products
    assert np.isclose(tf32.dx[0, 0, 2], bound(4, (1 + u) ** 2 * dx) + (2 * u + u * u) * dx)
    # dw[0, 0, 1]: x at 2o + 1 against dy at o, over the batch and the 3 outputs
    dw = sum(abs(x[n, 0, 2 * o + 1] * dy[n, 0, o]) for n in (0, 1) for o in range(3))
    assert np.isclose(bounds.dw[0, 0, 1], bound(6, dw))
    db = np.abs(dy[:, 3, :]).sum()
    assert np.isclose(bounds.db[3], bound(6, db))
    assert tf32.db[3] == bounds.db[3]  # a sum of dy multiplies nothing: TF32 does not reach it


def test_gradient_bounds_name_an_unknown_precision():
    x, w, b = make_inputs(GROUPED)
    with pytest.raises(ValueError, match=r"^precision='tf16': must be one of float32, tf32$"):
        gradient_bounds(GROUPED, x, w, b, _cotangent(GROUPED, 0), precision="tf16")
