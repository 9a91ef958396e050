"""Flax NNX model scans: each nnx.Conv / nnx.ConvTranspose call becomes a spec
whose float64 reference equals the layer's own output (which proves the
padding strings, JAX's transposed padding rule, the kernel orders and the
batch flattening right), and every backend passes it."""

from __future__ import annotations

import numpy as np
import pytest

from harness.porting import check_model, scan
from helpers import IMPORTS_TENSORFLOW, assert_every_layer_agrees, imported

pytestmark = IMPORTS_TENSORFLOW


@pytest.fixture(scope="module")
def nnx():
    imported("flax")
    from flax import nnx

    return nnx


def _randomised(layer, seed=1):
    """Kernel and bias drawn from [-1, 1] (a non-zero bias, so a dropped one would show)."""
    rng = np.random.default_rng(seed)
    for variable in (layer.kernel, layer.bias):
        if variable is not None:
            variable[...] = rng.uniform(-1, 1, variable[...].shape).astype("float32")
    return layer


LAYERS = {
    "conv2d-same-stride2-odd": (lambda nnx, r: nnx.Conv(3, 4, (3, 3), strides=2, padding="SAME", rngs=r), (2, 7, 6, 3)),
    "conv1d-causal-dilated": (lambda nnx, r: nnx.Conv(2, 3, (3,), kernel_dilation=2, padding="CAUSAL", rngs=r),
                              (1, 11, 2)),
    "conv2d-circular": (lambda nnx, r: nnx.Conv(2, 3, (3, 3), padding="CIRCULAR", rngs=r), (1, 5, 6, 2)),
    "conv2d-reflect-even-kernel": (lambda nnx, r: nnx.Conv(2, 2, (4, 3), padding="REFLECT", rngs=r), (1, 6, 5, 2)),
    "conv2d-groups-pairs": (lambda nnx, r: nnx.Conv(4, 6, (3, 2), strides=(2, 1), padding=((1, 0), (2, 1)),
                                                   feature_group_count=2, rngs=r), (2, 7, 5, 4)),
    "conv2d-int-padding-no-bias": (lambda nnx, r: nnx.Conv(3, 2, (3, 3), padding=2, use_bias=False, rngs=r),
                                   (1, 4, 4, 3)),
    "conv2d-mask": (lambda nnx, r: nnx.Conv(2, 2, (3, 3), padding="VALID", rngs=r,
                                            mask=np.tril(np.ones((3, 3, 2, 2), "float32"))), (1, 6, 6, 2)),
    "conv3d-valid": (lambda nnx, r: nnx.Conv(2, 3, (2, 2, 2), strides=(1, 2, 1), padding="VALID", rngs=r),
                     (1, 4, 5, 3, 2)),
    "conv1d-kernel-on-a-4d-input": (lambda nnx, r: nnx.Conv(3, 2, 3, padding="SAME", rngs=r), (2, 4, 6, 3)),
    "conv2d-unbatched": (lambda nnx, r: nnx.Conv(2, 2, (3, 3), padding="SAME", rngs=r), (5, 5, 2)),
    "transpose-same-k3-s2": (lambda nnx, r: nnx.ConvTranspose(3, 4, (3, 3), strides=(2, 2), padding="SAME",
                                                            transpose_kernel=True, rngs=r), (1, 4, 5, 3)),
    "transpose-valid-stride-beyond-kernel-unflipped": (
        lambda nnx, r: nnx.ConvTranspose(2, 3, (2,), strides=(3,), padding="VALID", rngs=r), (1, 4, 2)),
    "transpose-pairs-as-torch-p1-op1": (lambda nnx, r: nnx.ConvTranspose(3, 2, (3, 3), strides=(2, 2),
                                                                       padding=((1, 2), (1, 2)),
                                                                       transpose_kernel=True, rngs=r), (1, 4, 4, 3)),
    "transpose-dilated-same": (lambda nnx, r: nnx.ConvTranspose(2, 2, (3,), strides=(2,), kernel_dilation=(2,),
                                                              padding="SAME", rngs=r), (1, 5, 2)),
    "transpose-same-stride-beyond-kernel": (lambda nnx, r: nnx.ConvTranspose(2, 3, (1,), strides=(3,),
                                                                           padding="SAME", rngs=r), (2, 4, 2)),
}


@pytest.mark.parametrize("name", LAYERS)
def test_flax_layer_kinds_map_to_the_spec_their_own_output_confirms(nnx, name):
    build, shape = LAYERS[name]
    layer = _randomised(build(nnx, nnx.Rngs(0)))
    x = np.random.default_rng(2).uniform(-1, 1, shape).astype("float32")
    scanned = scan(layer, x)
    assert scanned.framework == "flax" and len(scanned.layers) == 1
    assert scanned.layers[0].spec.layout.endswith("C")
    assert_every_layer_agrees(check_model(scanned), "flax model")


def test_flax_padding_strings_become_the_spec_fields_they_mean(nnx):
    """Hand-derived: REFLECT with a (4, 3) kernel pads (1, 2) and (1, 1); JAX pads a
    stride-2 k3 'SAME' transposed conv's dilated input (2, 1): a crop of (0, 1)."""
    reflect = scan(nnx.Conv(2, 2, (4, 3), padding="REFLECT", rngs=nnx.Rngs(0)), np.zeros((1, 6, 5, 2), "float32"))
    assert reflect.layers[0].spec.padding_mode == "reflect"
    assert reflect.layers[0].spec.explicit_padding == ((1, 2), (1, 1))
    same = scan(nnx.ConvTranspose(2, 2, (3,), strides=(2,), padding="SAME", rngs=nnx.Rngs(0)),
                np.zeros((1, 4, 2), "float32")).layers[0].spec
    assert (same.transposed, same.explicit_padding, same.output_spatial) == (True, ((0, 1),), (8,))
    batch = scan(nnx.Conv(3, 2, 3, rngs=nnx.Rngs(0)), np.zeros((2, 4, 6, 3), "float32")).layers[0].spec
    assert (batch.rank, batch.batch, batch.spatial) == (1, 8, (6,))  # Flax flattens the leading axes


def test_flax_layers_no_spec_states_are_reported_and_the_scan_goes_on(nnx):
    class Model(nnx.Module):
        def __init__(self, rngs):
            self.dilated_input = nnx.Conv(2, 2, (3,), input_dilation=2, padding=0, rngs=rngs)
            self.plain = nnx.Conv(2, 2, (3,), rngs=rngs)
            self.circular = nnx.ConvTranspose(2, 2, (3,), strides=(2,), padding="CIRCULAR", rngs=rngs)

        def __call__(self, x):
            return self.circular(self.plain(self.dilated_input(x)))

    scanned = scan(Model(nnx.Rngs(0)), np.ones((1, 5, 2), "float32"))
    assert [(layer.name, layer.spec is None) for layer in scanned.layers] == [
        ("dilated_input", True), ("plain", False), ("circular", True)]
    assert "input_dilation" in scanned.layers[0].unsupported and "CIRCULAR" in scanned.layers[2].unsupported


def test_a_flax_layer_called_under_jit_is_reported_not_checked(nnx):
    conv = nnx.Conv(2, 2, (3,), rngs=nnx.Rngs(0))
    jitted = nnx.jit(lambda model, x: model(x))

    class Model(nnx.Module):
        def __init__(self):
            self.conv = conv

        def __call__(self, x):
            return jitted(self.conv, x)

    layers = scan(Model(), np.ones((1, 5, 2), "float32")).layers
    assert len(layers) == 1 and layers[0].spec is None and "eagerly" in layers[0].unsupported


def test_the_readmes_flax_example_passes_port_in_every_backend(nnx, capsys):
    from pathlib import Path

    from harness.cli import main

    example = Path(__file__).resolve().parent.parent / "examples" / "models.py"
    assert main(["port", f"{example}:flax_decoder", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "3 layers: 3 agree" in out and "conv2d_transpose NHWC" in out and "(reflect)" in out
