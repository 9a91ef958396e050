"""diagnose: each named mistake, injected into a real port, is named first; a
correct port gets "no mistake found"; noise is explained by none. Exact mode:
integer data make every backend equal the reference exactly."""

from __future__ import annotations

import numpy as np
import pytest

from harness import ConvSpec, check
from harness.cli import main
from harness.diagnosis import HYPOTHESES, NO_MISTAKE, diagnose
from harness.inputs import exact_magnitude, holds_exactly, inputs_code, make_inputs
from helpers import IMPORTS_TENSORFLOW, imported
from known_failures import known_failure

pytestmark = IMPORTS_TENSORFLOW

def _functional():
    """torch.nn.functional, or the test that needs it is skipped (the exact-mode tests need no torch)."""
    return imported("torch").nn.functional


def t(a):
    return imported("torch").from_numpy(np.ascontiguousarray(a))


def torch_port(spec: ConvSpec, x, w, b, *, pads=None, flip=False, bias=True):
    """A hand-written PyTorch port of a channels-first spec: F.pad, then conv."""
    pads = spec.explicit_padding if pads is None else pads
    widths = [p for pair in reversed(pads) for p in pair]
    F = _functional()
    weight = t(w).flip(tuple(range(2, w.ndim))) if flip else t(w)
    conv = (F.conv1d, F.conv2d, F.conv3d)[spec.rank - 1]
    y = conv(F.pad(t(x), widths), weight, t(b) if bias and b is not None else None, stride=spec.stride,
             dilation=spec.dilation, groups=spec.groups)
    return y.numpy()


SAME_2D = ConvSpec(layout="NCHW", in_channels=3, out_channels=4, spatial=(8, 9), kernel=(3, 3), stride=2,
                   padding="same", bias=True)  # SAME pads (0, 1) and (1, 1): odd totals on height
CAUSAL = ConvSpec(layout="NCW", in_channels=2, out_channels=3, spatial=12, kernel=3, dilation=2, padding="causal",
                  bias=True)
DEPTHWISE = ConvSpec(layout="NHWC", in_channels=3, out_channels=6, spatial=(5, 6), kernel=3, groups=3,
                     padding="same", bias=True)
NHWC = ConvSpec(layout="NHWC", in_channels=3, out_channels=4, spatial=(6, 7), kernel=(2, 3), padding="valid",
                bias=True)
# a DCGAN upsampling layer: ConvTranspose1d(kernel 4, stride 2, padding 1), output 2n
DCGAN = ConvSpec(layout="NCW", in_channels=2, out_channels=3, spatial=6, kernel=4, stride=2, padding=1,
                 transposed=True, bias=True)
# a decoder layer: ConvTranspose2d(kernel 3, stride 2, padding 1, output_padding 1), output 2n
DECODER = ConvSpec(layout="NCHW", in_channels=2, out_channels=3, spatial=(4, 5), kernel=3, stride=2, padding=1,
                   output_padding=1, transposed=True, bias=True)
REFLECT = ConvSpec(layout="NCHW", in_channels=2, out_channels=3, spatial=(6, 7), kernel=3, padding=1,
                   padding_mode="reflect", bias=True)
REPLICATE = REFLECT.replace(kernel=5, padding=2, padding_mode="replicate")


def jax_conv_transpose(spec, x, w, b, padding, transpose_kernel=True):
    """A JAX port of a PyTorch ConvTranspose1d through jax.lax.conv_transpose."""
    jax = imported("jax")
    y = jax.lax.conv_transpose(x, w, spec.stride, padding, dimension_numbers=("NCH", "OIH", "NCH"),
                               transpose_kernel=transpose_kernel)
    return np.asarray(y) + b[:, None]


def tf_valid_after(pad_mode, spec, x, w, b):
    """A TensorFlow port of a padded channels-first conv2d: tf.pad in ``pad_mode``, then VALID."""
    tf = imported("tensorflow")
    pads = [[0, 0], [0, 0], *map(list, spec.explicit_padding)]
    padded = tf.transpose(tf.pad(tf.constant(x), pads, mode=pad_mode), (0, 2, 3, 1))
    y = tf.nn.conv2d(padded, tf.transpose(tf.constant(w), (2, 3, 1, 0)), 1, "VALID") + b
    return tf.transpose(y, (0, 3, 1, 2)).numpy()


def _inject(name: str):
    """(spec, x, w, b, observed): a port that makes exactly the mistake ``name``."""
    if name == "flipped_kernel":
        spec = SAME_2D
        x, w, b = make_inputs(spec, 1, exact=True)
        return spec, x, w, b, torch_port(spec, x, w, b, flip=True)
    if name == "weight_layout":
        spec = NHWC
        x, w, b = make_inputs(spec, 2, exact=True)
        tf = imported("tensorflow")
        wrong = w.reshape(2, 3, 3, 4)  # PyTorch (O, I, kh, kw) reshaped, not transposed, to TF's (kh, kw, I, O)
        return spec, x, w, b, (tf.nn.conv2d(x, wrong, 1, "VALID") + b).numpy()
    if name == "input_layout":
        spec = NHWC
        x, w, b = make_inputs(spec, 3, exact=True)
        jax = imported("jax")
        nchw = np.transpose(x, (0, 3, 1, 2))
        wrong = nchw.reshape(x.shape)  # NCHW data reshaped to NHWC
        y = jax.lax.conv_general_dilated(wrong, w, (1, 1), "VALID", dimension_numbers=("NHWC", "OIHW", "NHWC"))
        return spec, x, w, b, np.asarray(y) + b
    if name == "spatial_axes_swapped":
        spec = SAME_2D
        x, w, b = make_inputs(spec, 4, exact=True)
        return spec, x, w, b, torch_port(spec, x, np.swapaxes(w, 2, 3), b)  # a (kw, kh) kernel
    if name == "same_padding_lower":
        spec = SAME_2D
        x, w, b = make_inputs(spec, 5, exact=True)
        lower = tuple((after, before) for before, after in spec.explicit_padding)
        return spec, x, w, b, torch_port(spec, x, w, b, pads=lower)
    if name == "symmetric_padding":
        spec = SAME_2D.replace(spatial=(9, 9), stride=3)  # SAME pads nothing here: (0, 0)
        x, w, b = make_inputs(spec, 6, exact=True)
        y = _functional().conv2d(t(x), t(w), t(b), stride=3, padding=1)  # PyTorch-style padding=(k-1)//2, same output size
        return spec, x, w, b, y.numpy()
    if name == "causal_as_same":
        spec = CAUSAL
        x, w, b = make_inputs(spec, 7, exact=True)
        y = _functional().conv1d(t(x), t(w), t(b), dilation=2, padding="same")
        return spec, x, w, b, y.numpy()
    if name == "depthwise_channel_order":
        spec = DEPTHWISE
        x, w, b = make_inputs(spec, 8, exact=True)
        right = _functional().conv2d(t(x).permute(0, 3, 1, 2), t(w), t(b), padding="same", groups=3).permute(0, 2, 3, 1)
        # a Keras (kh, kw, C, M) port that reads output channel m*C + c for c*M + m
        wrong = right.reshape(1, 5, 6, 3, 2).transpose(3, 4).reshape(1, 5, 6, 6)
        return spec, x, w, b, wrong.numpy()
    if name == "missing_bias":
        spec = SAME_2D
        x, w, b = make_inputs(spec, 9, exact=True)
        return spec, x, w, b, torch_port(spec, x, w, b, bias=False)
    if name == "transposed_kernel_not_flipped":
        spec = DCGAN
        x, w, b = make_inputs(spec, 10, exact=True)
        k = spec.kernel[0]
        pads = ((k - 1 - 1, k - 1 - 1),)  # PyTorch padding 1 as the dilated input's: right
        assert np.array_equal(jax_conv_transpose(spec, x, w, b, pads), check_reference(spec, x, w, b))
        # PyTorch (in, out, k) swapped to (out, in, k) by hand, and transpose_kernel left at its default
        return spec, x, w, b, jax_conv_transpose(spec, x, np.swapaxes(w, 0, 1), b, pads, transpose_kernel=False)
    if name == "transposed_padding_as_input_padding":
        spec = DCGAN
        x, w, b = make_inputs(spec, 11, exact=True)
        return spec, x, w, b, jax_conv_transpose(spec, x, w, b, ((1, 1),))  # PyTorch's padding=1 passed on
    if name == "output_padding_missing":
        spec = DECODER
        x, w, b = make_inputs(spec, 12, exact=True)
        tf = imported("tensorflow")
        # tf.nn.conv2d_transpose 'SAME' for output 2n, as for ConvTranspose2d(padding=1) without output_padding
        y = tf.nn.conv2d_transpose(np.transpose(x, (0, 2, 3, 1)), np.transpose(w, (2, 3, 1, 0)), (1, 8, 10, 3), 2,
                                   "SAME") + b
        return spec, x, w, b, np.transpose(y.numpy(), (0, 3, 1, 2))
    if name == "padding_mode":
        spec = REPLICATE
        x, w, b = make_inputs(spec, 13, exact=True)
        assert np.array_equal(tf_valid_after("REFLECT", REFLECT, x, w[..., 1:4, 1:4], b),
                              check_reference(REFLECT, x, w[..., 1:4, 1:4], b))
        return spec, x, w, b, tf_valid_after("SYMMETRIC", spec, x, w, b)
    raise AssertionError(f"no injection for {name}")


def check_reference(spec, x, w, b):
    from harness import reference

    return reference(spec, x, w, b)


def test_data_reshaped_for_a_channels_first_call_is_named_input_layout():
    x, w, b = make_inputs(NHWC, 16, exact=True)
    # NHWC data reshaped (not transposed) to NCHW for F.conv2d, the output permuted back correctly
    y = _functional().conv2d(t(x.reshape(1, 3, 6, 7)), t(w), t(b)).permute(0, 2, 3, 1)
    result = diagnose(NHWC, x, w, b, y.numpy())
    assert result.best == "input_layout" and "channels-last data reshaped to channels-first for the call" in result.text()


def test_a_forgotten_padding_mode_is_named():
    x, w, b = make_inputs(REFLECT, 14, exact=True)
    y = _functional().conv2d(t(x), t(w), t(b), padding=1)  # Conv2d(padding=1) without padding_mode='reflect'
    result = diagnose(REFLECT, x, w, b, y.numpy())
    assert result.best == "padding_mode" and "zeros where reflect was meant" in result.text()


def test_a_port_of_the_wrong_shape_is_diagnosed_by_the_mistakes_that_give_it():
    x, w, b = make_inputs(DECODER, 15, exact=True)
    short = _functional().conv_transpose2d(t(x), t(w), t(b), stride=2, padding=1)  # output_padding left out
    result = diagnose(DECODER, x, w, b, short.numpy())
    assert short.shape[2:] == (7, 9) and DECODER.output_spatial == (8, 10)
    assert result.best == "output_padding_missing" and result.where == "in the shape: (1, 3, 7, 9), not (1, 3, 8, 10)"


@pytest.mark.parametrize("name", [h.name for h in HYPOTHESES])
def test_each_injected_mistake_is_named_first(name):
    spec, x, w, b, observed = _inject(name)
    result = diagnose(spec, x, w, b, observed)
    assert result.exact
    assert result.best == name, result.text()
    assert result.findings[0].fix.startswith("fix: ")


@pytest.mark.needs("torch")  # the port is PyTorch's
@pytest.mark.parametrize("spec", [SAME_2D, CAUSAL, DEPTHWISE, NHWC], ids=lambda s: s.layout)
def test_a_correct_port_gets_no_mistake_found(spec):
    x, w, b = make_inputs(spec, 0)
    outcome = check(spec, inputs=(x, w, b), backends=["torch"])  # a real framework's float32 result
    from harness.backends import run_backend

    result = diagnose(spec, x, w, b, run_backend("torch", spec, x, w, b))
    assert outcome.ok and result.best == NO_MISTAKE and result.text().startswith(NO_MISTAKE)


def test_a_mistake_is_named_with_float_data_too():
    x, w, b = make_inputs(SAME_2D, 11)  # uniform floats: a match within the bound, not exact
    result = diagnose(SAME_2D, x, w, b, torch_port(SAME_2D, x, w, b, flip=True))
    assert not result.exact and result.best == "flipped_kernel"


def test_noise_is_explained_by_no_name_and_located():
    x, w, b = make_inputs(SAME_2D, 12, exact=True)
    observed = torch_port(SAME_2D, x, w, b)
    observed[0, 1, 0, :] += 0.5  # one row of one channel: a border
    result = diagnose(SAME_2D, x, w, b, observed)
    assert result.best == "unexplained" and result.where == "border"
    assert "no named mistake" in result.text()


def test_diagnose_command_reads_npz_and_npy(tmp_path, capsys):
    spec, x, w, b, observed = _inject("missing_bias")
    np.savez(tmp_path / "inputs.npz", x=x, w=w, b=b)
    np.save(tmp_path / "observed.npy", observed)
    assert main(["diagnose", spec.to_json(), "--inputs", str(tmp_path / "inputs.npz"),
                 "--observed", str(tmp_path / "observed.npy")]) == 1
    assert "1. missing_bias" in capsys.readouterr().out
    assert main(["diagnose", spec.to_json(), "--inputs", str(tmp_path / "none.npz"),
                 "--observed", str(tmp_path / "observed.npy")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


# -- exact mode -------------------------------------------------------------

def test_exact_magnitude_follows_the_mantissa_by_hand():
    spec = ConvSpec(layout="NCHW", in_channels=3, out_channels=2, spatial=5, kernel=3, bias=True, dtype="float16")
    assert spec.reduction_length == 27
    assert exact_magnitude(spec) == 8  # 27*8*8 + 8 = 1736 <= 2**11
    assert exact_magnitude(spec.replace(dtype="bfloat16")) == 3  # 27*9 + 3 = 246 <= 2**8 < 27*16 + 4
    with pytest.raises(ValueError, match=r"^exact=True: bfloat16"):
        exact_magnitude(spec.replace(dtype="bfloat16", in_channels=32, out_channels=2))  # 288 products of 1


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_exact_inputs_are_integers_every_backend_reproduces_exactly(dtype):
    spec = ConvSpec(layout="NHWC", in_channels=4, out_channels=4, spatial=(6, 5), kernel=3, stride=2, groups=2,
                    padding="same", bias=True, dtype=dtype)
    x, w, b = make_inputs(spec, 3, exact=True)
    assert holds_exactly(spec, x, w, b) and not holds_exactly(spec, *make_inputs(spec, 3))
    result = check(spec, 3, exact=True)
    assert result.exact
    for outcome in result.outcomes:
        if known_failure(outcome.backend, spec) is None:
            assert outcome.status == "unsupported" or outcome.max_abs_error == 0.0, outcome


def test_exact_inputs_code_builds_the_same_arrays():
    spec = ConvSpec(layout="NCW", in_channels=2, out_channels=2, spatial=7, kernel=3, bias=True)
    namespace = {"np": np}
    exec("\n".join(inputs_code(spec, 4, exact=True)), namespace)
    for name, array in zip("xwb", make_inputs(spec, 4, exact=True)):
        np.testing.assert_array_equal(namespace[name], array)


def test_exact_check_catches_a_difference_a_tolerance_would_hide(monkeypatch):
    from harness.backends import REGISTRY, Entry

    monkeypatch.setitem(REGISTRY, "nudged", Entry("test_diagnose:Nudged", "numpy"))
    spec = ConvSpec(layout="NCW", in_channels=2, out_channels=2, spatial=7, kernel=3)
    assert check(spec, 0, backends=["nudged"]).ok  # one float32 ulp: within the tolerance
    assert not check(spec, 0, backends=["nudged"], exact=True).ok


from harness.backends.base import Backend  # noqa: E402


class Nudged(Backend):
    """A port that is off by one float32 ulp in one element."""

    name = "nudged"
    module = "numpy"

    def _run(self, spec, x, w, b, script):
        from harness.reference import convolve

        y = convolve(spec, x, w, b).astype(np.float32)
        y.flat[0] = np.nextafter(y.flat[0], np.float32(np.inf))
        return y
