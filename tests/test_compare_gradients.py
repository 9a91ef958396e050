"""compare --grad: a model and its port, both built here, differentiated by their own
frameworks at one loss. A correct port agrees in every gradient; a conv frozen in the
port, or cut off by a stop_gradient after it, is named as ``missing`` at its layer
while every forward verdict agrees."""

from __future__ import annotations

import json

import numpy as np
import pytest

from harness.cli import main
from harness.porting.model_comparison import compare_models
from helpers import IMPORTS_TENSORFLOW

pytestmark = IMPORTS_TENSORFLOW

torch = pytest.importorskip("torch")


class Small(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 6, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(6, 6, 3, padding=1, groups=2)
        self.conv3 = torch.nn.Conv2d(6, 4, 1)

    def forward(self, x):
        return self.conv3(torch.tanh(self.conv2(torch.relu(self.conv1(x)))))


def small():
    torch.manual_seed(0)
    model = Small()
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-0.5, 0.5)
    return model


def example():
    return torch.from_numpy(np.random.default_rng(1).uniform(-1, 1, (2, 3, 8, 8)).astype(np.float32))


def kernel(conv) -> np.ndarray:
    """A PyTorch conv's weight (out, in/groups, kh, kw) as Keras and Flax hold it (kh, kw, in/groups, out)."""
    return np.ascontiguousarray(conv.weight.detach().numpy().transpose(2, 3, 1, 0))


def keras_port(keras, model, *, frozen=None, stop_after=None):
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(6, 3, padding="same", name="conv1")(inputs)
    x = keras.layers.ReLU()(keras.ops.stop_gradient(x) if stop_after == "conv1" else x)
    x = keras.layers.Conv2D(6, 3, padding="same", groups=2, name="conv2")(x)
    x = keras.layers.Activation("tanh")(keras.ops.stop_gradient(x) if stop_after == "conv2" else x)
    outputs = keras.layers.Conv2D(4, 1, name="conv3")(x)
    port = keras.Model(inputs, outputs)
    for name in ("conv1", "conv2", "conv3"):
        conv = getattr(model, name)
        port.get_layer(name).set_weights([kernel(conv), conv.bias.detach().numpy()])
    if frozen:
        port.get_layer(frozen).trainable = False
    return port


def tf_keras_port(model, *, frozen=None, stop_after=None):
    """The Keras 2 port, built as the Keras 3 one (its layers and calls are named alike)."""
    import tensorflow as tf
    import tf_keras

    class Keras2:  # keras.ops.stop_gradient as Keras 2 spells it: a Lambda layer over tf.stop_gradient
        layers, Input, Model = tf_keras.layers, tf_keras.Input, tf_keras.Model
        ops = type("ops", (), {"stop_gradient": staticmethod(tf_keras.layers.Lambda(tf.stop_gradient))})

    return keras_port(Keras2, model, frozen=frozen, stop_after=stop_after)


def flax_port(model, *, frozen=None, stop_after=None):
    import jax
    from flax import nnx

    class Port(nnx.Module):
        def __init__(self):
            rngs = nnx.Rngs(0)
            self.conv1 = nnx.Conv(3, 6, (3, 3), padding="SAME", rngs=rngs)
            self.conv2 = nnx.Conv(6, 6, (3, 3), padding="SAME", feature_group_count=2, rngs=rngs)
            self.conv3 = nnx.Conv(6, 4, (1, 1), rngs=rngs)

        def __call__(self, x):
            cut = (lambda name, y: jax.lax.stop_gradient(y) if name == stop_after else y)
            x = jax.nn.relu(cut("conv1", self.conv1(x)))
            return self.conv3(jax.numpy.tanh(cut("conv2", self.conv2(x))))

    port = Port()
    for name in ("conv1", "conv2", "conv3"):
        conv, layer = getattr(model, name), getattr(port, name)
        layer.kernel[...] = kernel(conv)
        layer.bias[...] = conv.bias.detach().numpy()
        if name == frozen:  # a frozen parameter is held in a Variable that is no Param: nnx.grad leaves it out
            layer.kernel, layer.bias = nnx.Variable(layer.kernel[...]), nnx.Variable(layer.bias[...])
    return port


def linen_port(model, *, stop_after=None):
    """The linen port as ``functools.partial(module.apply, variables)``. Linen holds no
    frozen parameter (a caller keeps it out of its optimiser), so only a stop_gradient."""
    import functools

    import jax
    import flax.linen as nn

    class Port(nn.Module):
        @nn.compact
        def __call__(self, x):
            cut = (lambda name, y: jax.lax.stop_gradient(y) if name == stop_after else y)
            x = jax.nn.relu(cut("conv1", nn.Conv(6, (3, 3), padding="SAME", name="conv1")(x)))
            x = nn.Conv(6, (3, 3), padding="SAME", feature_group_count=2, name="conv2")(x)
            return nn.Conv(4, (1, 1), name="conv3")(jax.numpy.tanh(cut("conv2", x)))

    params = {name: {"kernel": kernel(getattr(model, name)), "bias": getattr(model, name).bias.detach().numpy()}
              for name in ("conv1", "conv2", "conv3")}
    return functools.partial(Port().apply, {"params": params})


@pytest.fixture(scope="module")
def keras():
    return pytest.importorskip("keras")


@pytest.fixture(scope="module", params=["keras", "flax", "tf_keras", "linen"])
def port(request):
    """Builds the port in the target framework: (model, frozen=..., stop_after=...) -> port."""
    if request.param == "keras":
        keras = pytest.importorskip("keras")
        return lambda model, **mistake: keras_port(keras, model, **mistake)
    if request.param == "tf_keras":
        pytest.importorskip("tf_keras")
        return tf_keras_port
    if request.param == "linen":
        pytest.importorskip("flax.linen")
        return linen_port
    pytest.importorskip("flax.nnx")
    return flax_port


def gradients(result) -> dict:
    return {p.source: p.gradient.verdict for p in result.pairs}


def test_a_correct_port_agrees_in_every_gradient(port):
    model = small()
    result = compare_models(model, port(model), example(), grad=True)
    assert result.agree and gradients(result) == {"conv1": "agree", "conv2": "agree", "conv3": "agree"}
    assert result.first_gradient_divergence is None
    assert all(0 <= p.gradient.ratio <= 1 for p in result.pairs)
    assert result.to_dict()["first_gradient_divergence"] is None


@pytest.mark.parametrize("port", ["keras", "flax", "tf_keras"], indirect=True)
def test_a_frozen_conv_in_the_port_is_its_missing_gradient_while_the_forward_agrees(port):
    model = small()
    result = compare_models(model, port(model, frozen="conv2"), example(), grad=True)
    assert result.agree  # every forward verdict
    assert gradients(result) == {"conv1": "agree", "conv2": "missing", "conv3": "agree"}
    assert result.first_gradient_divergence == "conv2"
    assert "target side" in result.pairs[1].gradient.detail


def test_a_stop_gradient_after_a_conv_cuts_it_and_what_comes_before(port):
    model = small()
    result = compare_models(model, port(model, stop_after="conv2"), example(), grad=True)
    assert result.agree
    assert gradients(result) == {"conv1": "missing", "conv2": "missing", "conv3": "agree"}
    assert result.first_gradient_divergence == "conv2"  # the first met from the output backwards


def test_a_source_whose_conv_does_not_require_grad_is_missing_on_the_source_side(keras):
    model = small()
    port = keras_port(keras, model)
    model.conv3.weight.requires_grad_(False)
    result = compare_models(model, port, example(), grad=True)
    assert gradients(result)["conv3"] == "missing" and "source side" in result.pairs[2].gradient.detail


def test_a_gradient_off_beyond_the_bound_differs(keras, monkeypatch):
    from harness.frameworks.keras import models as keras_models

    model = small()
    port = keras_port(keras, model)
    honest = keras_models.parameter_gradients

    def off_by_a_percent(*args):  # a custom backward that scales conv1's weight gradient
        found = honest(*args)
        found["conv1"] = (found["conv1"][0] * 1.01, found["conv1"][1])
        return found

    monkeypatch.setattr(keras_models, "parameter_gradients", off_by_a_percent)
    result = compare_models(model, port, example(), grad=True)
    assert gradients(result) == {"conv1": "differs", "conv2": "agree", "conv3": "agree"}
    assert result.pairs[0].gradient.ratio > 1 and "dw off by" in result.pairs[0].gradient.detail


def test_compare_command_with_grad_writes_the_gradient_verdicts_and_exits_1_on_a_missing_one(tmp_path, keras):
    script = tmp_path / "models.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(__import__('pathlib').Path(__file__).parent)!r})\n"
        "import keras\n"
        "from test_compare_gradients import example, keras_port, small\n"
        "def source():\n    return small(), example()\n"
        "def good():\n    return keras_port(keras, small())\n"
        "def frozen():\n    return keras_port(keras, small(), frozen='conv1')\n")
    out = tmp_path / "c.json"
    assert main(["compare", f"{script}:source", f"{script}:good", "--grad", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["first_gradient_divergence"] is None
    assert main(["compare", f"{script}:source", f"{script}:frozen", "--grad", "--json", str(out)]) == 1
    data = json.loads(out.read_text())
    assert data["first_divergence"] is None and data["first_gradient_divergence"] == "conv1"
    assert data["pairs"][0]["gradient"]["verdict"] == "missing" and data["pairs"][0]["gradient"]["ratio"] is None
    assert set(data["pairs"][1]["gradient"]) == {"verdict", "ratio", "detail"}


def test_a_framework_without_the_gradient_hook_is_named_as_forward_only(keras, monkeypatch):
    from harness.frameworks.keras import models as keras_models

    monkeypatch.delattr(keras_models, "parameter_gradients")
    model = small()
    with pytest.raises(ValueError, match=r"^grad: a Keras model is compared forward only here"):
        compare_models(model, keras_port(keras, model), example(), grad=True)
    assert compare_models(model, keras_port(keras, model), example()).agree  # the forward comparison is unchanged
