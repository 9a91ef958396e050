"""Keras 2 (``tf_keras``) ports, as TensorFlow code written before Keras 3 has them: a
functional and a subclassed port of a PyTorch network agree pair by pair (and exit 0
through the CLI); each injected mistake of the compare tests is found at its layer; the
scan sees sequential and nested models, separable and transposed convs, and folds a
ZeroPadding layer into the conv it feeds."""

from __future__ import annotations

import importlib
import textwrap

import numpy as np
import pytest

from harness.cli import main
from harness.porting import check_model, scan
from harness.porting.model_comparison import compare_models
from helpers import IMPORTS_TENSORFLOW, assert_every_layer_agrees, assert_mistake_found, imported
from test_compare import EXAMPLE, MISTAKES, kernel, keras_port, net

pytestmark = [IMPORTS_TENSORFLOW, pytest.mark.needs("tf_keras")]

torch = imported("torch")


@pytest.fixture(scope="module")
def tf_keras():
    return importlib.import_module("tf_keras")


def subclassed_port(tf_keras, model, mistake=None, layer=None):
    """The subclassed (layers called inside ``call``) Keras 2 port of the compare tests' Net."""
    layers = tf_keras.layers

    class Port(tf_keras.Model):
        def __init__(self):
            super().__init__(name="port")
            self.pad = layers.ZeroPadding2D(1)
            self.conv1 = layers.Conv2D(8, 3, strides=2, padding="same" if mistake == "padding" else "valid",
                                       name="conv1")
            self.conv2 = layers.DepthwiseConv2D(3, padding="same", name="conv2")
            self.conv3 = layers.Conv2D(16, 3, padding="same", activation="relu", name="conv3")
            self.conv4 = layers.Conv2D(4, 1, use_bias=mistake != "missing_bias", name="conv4")

        def call(self, x):
            x = tf_keras.activations.relu(self.conv1(x if mistake == "padding" else self.pad(x)))
            x = self.conv2(x)
            x = x if mistake == "missing_activation" else tf_keras.activations.relu(x)
            return self.conv4(self.conv3(x))

    port = Port()
    port(np.zeros((1, 16, 16, 3), np.float32))  # builds the weights
    for name in ("conv1", "conv3", "conv4"):
        conv, target = getattr(model, name), getattr(port, name)
        target.set_weights([kernel(conv, mistake if name == layer else None)]
                           + ([conv.bias.detach().numpy()] if target.use_bias else []))
    depthwise = model.conv2.weight.detach().numpy()  # (C*M, 1, kh, kw), M = 1
    port.conv2.set_weights([depthwise.reshape(8, 1, 3, 3).transpose(2, 3, 0, 1), model.conv2.bias.detach().numpy()])
    return port


PORTS = {"functional": keras_port, "subclassed": subclassed_port}


@pytest.mark.parametrize("form", PORTS)
def test_a_tf_keras_port_agrees_at_every_pair(tf_keras, form):
    model = net()
    port = PORTS[form](tf_keras, model)
    result = compare_models(model, port, torch.from_numpy(EXAMPLE))
    assert [(p.source, p.target, p.verdict) for p in result.pairs] == [
        (f"conv{i}", f"conv{i}", "agree") for i in range(1, 5)], [p.to_dict() for p in result.pairs]
    assert result.target_scan.framework == "tf_keras"
    assert result.final_output["target_shape"] == [2, 4, 8, 8] and result.final_output["max_abs_error"] < 1e-4


@pytest.mark.parametrize("form", PORTS)
@pytest.mark.parametrize("mistake,layer,verdict,differences,weights,named", MISTAKES)
def test_an_injected_mistake_in_a_tf_keras_port_is_found_at_its_layer(tf_keras, form, mistake, layer, verdict,
                                                                      differences, weights, named):
    model = net()
    result = compare_models(model, PORTS[form](tf_keras, model, mistake, layer), torch.from_numpy(EXAMPLE))
    assert_mistake_found(result, layer, verdict, differences, weights, named)


def test_a_subclassed_port_has_its_zero_padding_folded_into_the_conv(tf_keras):
    scanned = scan(subclassed_port(tf_keras, net()), np.ones((1, 16, 16, 3), np.float32), fold_zero_padding=True)
    conv1 = scanned.layers[0]
    assert conv1.spec.explicit_padding == ((1, 1), (1, 1)) and conv1.x.shape == (1, 16, 16, 3)


def test_sequential_nested_separable_and_transposed_layers_are_scanned_and_agree(tf_keras):
    layers = tf_keras.layers
    inner = tf_keras.Sequential([layers.SeparableConv2D(6, 3, padding="same", depth_multiplier=2, name="sep"),
                                 layers.Conv2DTranspose(3, 3, strides=2, padding="same", name="up")], name="inner")
    inputs = tf_keras.Input((9, 9, 4))
    x = layers.Conv1D(5, 3, padding="causal", dilation_rate=2, name="along")(layers.Reshape((81, 4))(inputs))
    outputs = inner(layers.Reshape((9, 9, 5))(x))
    model = tf_keras.Model(inputs, outputs)
    rng = np.random.default_rng(1)
    for variable in model.weights:
        variable.assign(rng.uniform(-1, 1, variable.shape).astype("float32"))
    scanned = scan(model, rng.uniform(-1, 1, (2, 9, 9, 4)).astype(np.float32))
    assert [(layer.name, layer.kind) for layer in scanned.layers] == [
        ("along", "tf_keras.layers.Conv1D"), ("sep/depthwise", "tf_keras.layers.SeparableConv2D"),
        ("sep/pointwise", "tf_keras.layers.SeparableConv2D"), ("up", "tf_keras.layers.Conv2DTranspose")]
    assert scanned.layers[1].spec.groups == 5 and scanned.layers[1].spec.out_channels == 10
    assert scanned.output.shape == (2, 18, 18, 3)
    # each spec, weight and input, run in NumPy, gives what the layer itself gave (where it is taken)
    assert_every_layer_agrees(check_model(scanned, ["numpy"]), "tf_keras model")


def test_compare_and_port_take_a_tf_keras_port_on_the_command_line(tf_keras, tmp_path, capsys, monkeypatch):
    (tmp_path / "kerastwo.py").write_text(textwrap.dedent("""
        import numpy as np, torch, tf_keras
        from test_compare import EXAMPLE, net
        from test_scan_tf_keras import subclassed_port

        def source():
            return net(), torch.from_numpy(EXAMPLE)

        def good():
            return subclassed_port(tf_keras, net())

        def bad():
            return subclassed_port(tf_keras, net(), "weight_layout", "conv3")
    """))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["compare", "kerastwo:source", "kerastwo:good"]) == 0
    assert main(["compare", "kerastwo:source", "kerastwo:bad"]) == 1
    assert "first divergence: conv3" in capsys.readouterr().out
    assert main(["port", "kerastwo:good", "--input-shape", "1,16,16,3", "--backends", "numpy", "--quiet"]) == 0
    assert "4 layers: 4 agree" in capsys.readouterr().out


def test_a_layer_called_inside_a_tf_function_is_listed_as_not_checked(tf_keras):
    import tensorflow as tf

    class Graphed(tf_keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = tf_keras.layers.Conv2D(2, 3, name="conv")

        @tf.function
        def call(self, x):
            return self.conv(x)

    (layer,) = scan(Graphed(), np.ones((1, 5, 5, 3), np.float32)).layers
    assert layer.spec is None and "tf.function" in layer.unsupported
