"""explain: each framework's pasteable call computes the spec, and the padding
notes say where TensorFlow 'SAME' and PyTorch's integer padding part."""

from __future__ import annotations

import numpy as np
import pytest

from harness import ConvSpec
from harness.cli import main
from harness.explain import explain, padding_notes
from harness.inputs import make_inputs
from harness.reference import reference
from harness.tolerance import error_bound
from helpers import FRAMEWORK_BACKENDS, IMPORTS_TENSORFLOW, installed

pytestmark = IMPORTS_TENSORFLOW

# even kernel, stride 2: SAME pads (0, 1) and (1, 1), which PyTorch's symmetric padding cannot say
SAME_EVEN_STRIDED = ConvSpec(layout="NHWC", in_channels=2, out_channels=4, spatial=(7, 7), kernel=(2, 3),
                             stride=2, padding="same", groups=2, bias=True)


def test_padding_notes_name_the_resolved_pads_and_the_pytorch_difference():
    notes = padding_notes(SAME_EVEN_STRIDED)
    assert notes[0].endswith("(0, 1), (1, 1) per spatial axis")  # by hand: total (ceil(7/2)-1)*2 + k - 7 = 1 for k=2, 2 for k=3
    assert any("refuses stride > 1" in n for n in notes)
    assert any("padding=(0, 1)" in n and "NOT the same" in n for n in notes)
    assert any("torch.nn.functional.pad first" in n for n in notes)
    symmetric = padding_notes(ConvSpec(layout="NCW", in_channels=1, out_channels=1, spatial=5, kernel=3,
                                       padding="same"))
    assert not any("NOT the same" in n for n in symmetric)


# a decoder layer with an asymmetric crop: PyTorch narrows, TensorFlow slices, JAX pads the dilated input
TRANSPOSED = ConvSpec(layout="NHWC", in_channels=2, out_channels=3, spatial=(4, 5), kernel=3, stride=2,
                      padding=((1, 2), (1, 1)), output_padding=1, transposed=True, bias=True)
REPLICATE = ConvSpec(layout="NCHW", in_channels=2, out_channels=3, spatial=(5, 6), kernel=3, padding=2,
                     padding_mode="replicate", bias=True)


def test_transposed_and_padding_mode_notes_state_the_crop_and_the_fill():
    notes = padding_notes(TRANSPOSED)
    assert notes[0].startswith("transposed: the full output is (n-1)*s + (k-1)*d + 1 = 9x11")
    assert "(1, 2), (1, 1)" in notes[0]  # the crops
    assert any("output_padding (1, 1)" in n for n in notes) and any("narrowed" in n for n in notes)
    assert any("TensorFlow has no edge mode" in n for n in padding_notes(REPLICATE))


@pytest.mark.parametrize("spec", [SAME_EVEN_STRIDED, TRANSPOSED, REPLICATE], ids=["same", "transposed", "replicate"])
@pytest.mark.parametrize("backend", FRAMEWORK_BACKENDS)
def test_each_explained_call_computes_the_spec_when_pasted(backend, spec):
    explanation = explain(spec, seed=2, backends=[backend])
    (call,) = explanation.calls
    assert call.status == "pass", call
    x, w, b = make_inputs(spec, 2)
    namespace = {"np": np, "x": x, "w": w, "b": b}
    exec(call.code, namespace)  # what a user pastes after building x, w, b in NumPy
    error = np.abs(np.asarray(namespace["y"], np.float64) - reference(spec, x, w, b))
    assert (error <= error_bound(spec, x, w, b)).all()


def test_explain_command_states_the_verdict(capsys):
    assert main(["explain", SAME_EVEN_STRIDED.to_json(), "--backends", ",".join(FRAMEWORK_BACKENDS)]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().splitlines()[-1].startswith("agree: ")
    for backend in FRAMEWORK_BACKENDS:
        assert f"## {backend}: pass" in out


@pytest.mark.parametrize("dtype,switched", [("float32", False), ("float64", True)])
@pytest.mark.parametrize("backend", installed("jax", "flax"))
def test_a_jax_snippet_switches_x64_on_only_for_a_float64_spec(backend, dtype, switched):
    (call,) = explain(SAME_EVEN_STRIDED.replace(dtype=dtype), seed=2, backends=[backend]).calls
    assert call.status == "pass", call
    assert ('jax.config.update("jax_enable_x64", True)' in call.code.splitlines()) == switched, call.code


def test_layout_notes_say_pytorch_permutes_channels_last_and_tensorflow_may_transpose_channels_first():
    from harness.explain import layout_notes

    last = ConvSpec(layout="NHWC", in_channels=1, out_channels=1, spatial=3, kernel=1)
    first = ConvSpec(layout="NCHW", in_channels=1, out_channels=1, spatial=3, kernel=1)
    assert layout_notes(last)[1:] == [
        "PyTorch convolves channels-first only: a channels-last spec is permuted around the call"]
    assert layout_notes(first)[1:] == [
        "TensorFlow's CPU kernels may refuse channels-first (by dtype and machine): then the call is transposed"]
