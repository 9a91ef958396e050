"""compare: a model against its port, both built here. A correct port agrees at
every pair (however it is written); each injected mistake is the first
divergence, at the layer where it was made, with its verdict and name."""

from __future__ import annotations

import json
import re
import textwrap

import numpy as np
import pytest

from harness import table
from harness.cli import main
from harness.porting.model_comparison import compare_models
from helpers import IMPORTS_TENSORFLOW, imported

pytestmark = IMPORTS_TENSORFLOW

torch = imported("torch")


@pytest.fixture(scope="module")
def keras():
    return imported("keras")


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.conv2 = torch.nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.conv3 = torch.nn.Conv2d(8, 16, 3, padding=1)
        self.conv4 = torch.nn.Conv2d(16, 4, 1)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        x = torch.relu(self.conv3(x))
        return self.conv4(x)


def net():
    torch.manual_seed(0)
    model = Net()
    with torch.no_grad():
        for p in model.parameters():  # non-zero biases, so a dropped one shows
            p.uniform_(-0.5, 0.5)
    return model


def kernel(conv, mistake=None):
    """A PyTorch conv's weight as a Keras kernel (*k, in, out): transposed, or with a porting mistake."""
    w = conv.weight.detach().numpy()
    if mistake == "weight_layout":
        return w.reshape(*w.shape[2:], w.shape[1], w.shape[0])  # reshaped, not transposed
    if mistake == "spatial_axes_swapped":
        return w.transpose(3, 2, 1, 0)  # (kw, kh, in, out)
    if mistake == "flipped_kernel":
        w = w[:, :, ::-1, ::-1]
    return np.ascontiguousarray(w.transpose(2, 3, 1, 0))


def keras_port(keras, model, mistake=None, layer=None):
    """The Keras (channels-last) port of Net, with ``mistake`` made at ``layer``."""
    inputs = keras.Input((16, 16, 3))
    if mistake == "padding":  # TF 'SAME' at stride 2 on an even size pads (0, 1), PyTorch's padding=1 (1, 1)
        x = keras.layers.Conv2D(8, 3, strides=2, padding="same", name="conv1")(inputs)
    else:  # padding first, then 'valid': PyTorch's padding=1 written another way
        x = keras.layers.Conv2D(8, 3, strides=2, name="conv1")(keras.layers.ZeroPadding2D(1)(inputs))
    x = keras.layers.ReLU()(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same", name="conv2")(x)
    if mistake != "missing_activation":
        x = keras.layers.ReLU()(x)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv3")(x)
    outputs = keras.layers.Conv2D(4, 1, use_bias=mistake != "missing_bias", name="conv4")(x)
    port = keras.Model(inputs, outputs)
    layers = {n: port.get_layer(n) for n in ("conv1", "conv2", "conv3", "conv4")}
    for name in ("conv1", "conv3", "conv4"):
        conv = getattr(model, name)
        values = [kernel(conv, mistake if name == layer else None)]
        if layers[name].use_bias:
            values.append(conv.bias.detach().numpy())
        layers[name].set_weights(values)
    depthwise = model.conv2.weight.detach().numpy()  # (C*M, 1, kh, kw), M = 1
    layers["conv2"].set_weights([depthwise.reshape(8, 1, 3, 3).transpose(2, 3, 0, 1),
                                 model.conv2.bias.detach().numpy()])
    return port


EXAMPLE = np.random.default_rng(0).uniform(-1, 1, (2, 3, 16, 16)).astype(np.float32)


def test_a_correct_port_agrees_at_every_pair_however_its_padding_is_written(keras):
    model = net()
    result = compare_models(model, keras_port(keras, model), torch.from_numpy(EXAMPLE))
    assert [(p.source, p.target, p.verdict) for p in result.pairs] == [
        (f"conv{i}", f"conv{i}", "agree") for i in range(1, 5)]
    assert result.agree and result.first_divergence is None
    assert result.final_output["max_abs_error"] < 1e-4


MISTAKES = [
    ("weight_layout", "conv3", "differs", (), "weight_layout", "weight_layout"),
    ("spatial_axes_swapped", "conv3", "differs", (), "spatial_axes_swapped", "spatial_axes_swapped"),
    ("flipped_kernel", "conv3", "differs", (), "flipped_kernel", "flipped_kernel"),
    ("padding", "conv1", "differs", ("padding",), "", None),
    ("missing_bias", "conv4", "differs", ("bias",), "", "missing_bias"),
    ("missing_activation", "conv3", "input_differs", (), "", None),
]
# a port of Net with a mistake made at a layer, and what the call its user needs begins with
PORTS = {"keras": (lambda request, *made: keras_port(request.getfixturevalue("keras"), *made), "keras.layers."),
         "flax": (lambda request, *made: flax_port(request.getfixturevalue("nnx"), *made), "flax.nnx.Conv(")}


@pytest.mark.parametrize("port", PORTS)
@pytest.mark.parametrize("mistake,layer,verdict,differences,weights,named", MISTAKES)
def test_an_injected_mistake_is_the_first_divergence_with_its_name(request, port, mistake, layer, verdict,
                                                                    differences, weights, named):
    build, needed = PORTS[port]
    model = net()
    result = compare_models(model, build(request, model, mistake, layer), torch.from_numpy(EXAMPLE))
    first = result.first_divergence
    assert (first.source, first.target, first.verdict) == (layer, layer, verdict), [p.to_dict() for p in result.pairs]
    assert first.spec_differences == differences and first.weights == weights
    if named:
        assert first.mistakes[0] == named, first
    assert first.fix.startswith("fix: ")
    if verdict == "input_differs":
        assert "parted between conv2 and this layer" in first.detail
    else:
        assert needed in first.call  # the call the port needs, in its own framework


def test_a_keras_model_compared_with_its_pytorch_port(keras):
    inputs = keras.Input((12, 3))
    x = keras.layers.Conv1D(4, 3, padding="causal", dilation_rate=2, name="a")(inputs)
    source = keras.Model(inputs, keras.layers.Conv1D(2, 2, strides=2, name="b")(keras.layers.ReLU()(x)))
    for variable in source.weights:
        variable.assign(np.random.default_rng(2).uniform(-1, 1, variable.shape).astype("float32"))
    a, b = (source.get_layer(n) for n in "ab")

    class Port(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = torch.nn.Conv1d(3, 4, 3, dilation=2)
            self.b = torch.nn.Conv1d(4, 2, 2, stride=2)

        def forward(self, x):
            x = torch.nn.functional.pad(x, (4, 0))  # causal: (k-1)*d zeros before
            return self.b(torch.relu(self.a(x)))

    port = Port()
    with torch.no_grad():
        for conv, layer in ((port.a, a), (port.b, b)):
            kernel, bias = (np.asarray(v) for v in layer.get_weights())
            conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(kernel.transpose(2, 1, 0))))
            conv.bias.copy_(torch.from_numpy(bias))
    example = np.random.default_rng(3).uniform(-1, 1, (1, 12, 3)).astype(np.float32)
    result = compare_models(source, port, example)
    assert [p.verdict for p in result.pairs] == ["agree", "agree"], [p.to_dict() for p in result.pairs]
    assert result.final_output["source_shape"] == [1, 6, 2] and result.final_output["max_abs_error"] < 1e-5


def test_unpaired_layers_are_listed_and_pairing_goes_on(keras):
    model = net()
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", name="conv1")(inputs)
    x = keras.layers.Conv2D(8, 1, name="extra")(x)  # where the source has its depthwise conv2
    x = keras.layers.Conv2D(16, 3, padding="same", name="conv3")(x)
    port = keras.Model(inputs, keras.layers.Conv2D(4, 1, name="conv4")(x))
    result = compare_models(model, port, torch.from_numpy(EXAMPLE))
    verdicts = [(p.source, p.target, p.verdict) for p in result.pairs]
    # the weights differ everywhere: this port was never given the source's
    assert verdicts == [("conv1", "conv1", "differs"), (None, "extra", "unpaired"), ("conv2", None, "unpaired"),
                        ("conv3", "conv3", "differs"), ("conv4", "conv4", "differs")]
    assert result.pairs[1].detail.startswith("no source layer of its kind here")


class Residual(torch.nn.Module):
    """A block whose skip conv PyTorch runs first; Keras lists it after the main branch."""

    def __init__(self):
        super().__init__()
        self.down = torch.nn.Conv2d(3, 8, 1, stride=2)
        self.a = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)

    def forward(self, x):
        skip = self.down(x)
        return torch.relu(self.a(x)) + skip


def test_parallel_branches_pair_whatever_order_each_model_runs_them(keras):
    torch.manual_seed(3)
    model = Residual()
    inputs = keras.Input((16, 16, 3))
    a = keras.layers.Conv2D(8, 3, strides=2, name="a")
    main = keras.layers.ReLU()(a(keras.layers.ZeroPadding2D(1)(inputs)))
    down = keras.layers.Conv2D(8, 1, strides=2, name="down")
    port = keras.Model(inputs, keras.layers.Add()([main, down(inputs)]))
    for layer, conv in ((a, model.a), (down, model.down)):
        layer.set_weights([conv.weight.detach().numpy().transpose(2, 3, 1, 0), conv.bias.detach().numpy()])
    result = compare_models(model, port, torch.from_numpy(EXAMPLE))
    assert [(p.source, p.target, p.verdict) for p in result.pairs] == [("down", "down", "agree"), ("a", "a", "agree")]


def test_compare_command_writes_the_json_and_exits_1_at_a_divergence(keras, tmp_path, capsys, monkeypatch):
    (tmp_path / "pair.py").write_text(textwrap.dedent("""
        import numpy as np, torch
        from test_compare import net, keras_port

        def source():
            return net(), torch.from_numpy(np.random.default_rng(0).uniform(-1, 1, (2, 3, 16, 16)).astype("float32"))

        def good():
            import keras
            return keras_port(keras, net())

        def bad():
            import keras
            return keras_port(keras, net(), "flipped_kernel", "conv3")
    """))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "cmp.json"
    assert main(["compare", "pair:source", "pair:good", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["first_divergence"] is None
    assert main(["compare", "pair:source", "pair:bad", "--json", str(out)]) == 1
    data = json.loads(out.read_text())
    assert data["first_divergence"] == "conv3" and set(data) == {"source", "target", "pairs", "first_divergence",
                                                                 "final_output"}
    third = data["pairs"][2]
    assert third["verdict"] == "differs" and third["mistakes"][0] == "flipped_kernel"
    # what the Keras port needs: the layer, under the Keras backend it runs on
    assert "keras.layers.Conv2D(16, (3, 3)" in third["call"] and "data_format='channels_last'" in third["call"]
    printed = capsys.readouterr().out
    assert "first divergence: conv3" in printed and "flipped_kernel" in printed
    assert main(["report", str(out), "-o", str(tmp_path / "index.html")]) == 0  # a comparison alone makes a page
    page = (tmp_path / "index.html").read_text()
    assert 'id="comparisons"' in page and "first divergence: conv3" in page
    assert 'class="first-divergence"' in page and "the call the target needs" in page
    records = tmp_path / "port.jsonl"
    assert main(["compare", "pair:source", "pair:good", "--records", str(records), "--backends", "numpy"]) == 0
    rows = [json.loads(line) for line in records.read_text().splitlines()]
    assert {r["layer"] for r in rows} == {"conv1", "conv2", "conv3", "conv4"}
    assert {r["status"] for r in rows} == {"pass"}
    assert main(["compare", "pair:source", "pair:nothing"]) == 2
    assert main(["compare", "pair:source", "pair:good", "--target-layout", "sideways"]) == 2


# -- PyTorch to Flax ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def nnx():
    imported("flax")
    from flax import nnx

    return nnx


def flax_port(nnx, model, mistake=None, layer=None):
    """The Flax NNX (channels-last only) port of Net, with ``mistake`` made at ``layer``."""

    class Port(nnx.Module):
        def __init__(self, rngs):
            padding = "SAME" if mistake == "padding" else ((1, 1), (1, 1))  # SAME pads (0, 1) here
            self.conv1 = nnx.Conv(3, 8, (3, 3), strides=2, padding=padding, rngs=rngs)
            self.conv2 = nnx.Conv(8, 8, (3, 3), padding="SAME", feature_group_count=8, rngs=rngs)
            self.conv3 = nnx.Conv(8, 16, (3, 3), padding=1, rngs=rngs)
            self.conv4 = nnx.Conv(16, 4, (1, 1), padding="VALID", use_bias=mistake != "missing_bias", rngs=rngs)

        def __call__(self, x):
            x = self.conv2(nnx.relu(self.conv1(x)))
            x = self.conv3(x if mistake == "missing_activation" else nnx.relu(x))
            return self.conv4(nnx.relu(x))

    port = Port(nnx.Rngs(0))
    for name in ("conv1", "conv2", "conv3", "conv4"):
        conv, target = getattr(model, name), getattr(port, name)
        target.kernel[...] = kernel(conv, mistake if name == layer else None)
        if target.bias is not None:
            target.bias[...] = conv.bias.detach().numpy()
    return port


def test_a_correct_flax_port_agrees_at_every_pair(nnx):
    model = net()
    result = compare_models(model, flax_port(nnx, model), torch.from_numpy(EXAMPLE))
    assert [(p.source, p.target, p.verdict) for p in result.pairs] == [
        (f"conv{i}", f"conv{i}", "agree") for i in range(1, 5)], [p.to_dict() for p in result.pairs]
    assert result.final_output["target_shape"] == [2, 4, 8, 8] and result.final_output["max_abs_error"] < 1e-4


class Decoder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.up = torch.nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1)

    def forward(self, x):
        return self.up(x)


@pytest.mark.parametrize("transpose_kernel,verdict,weights", [
    (True, "agree", ""), (False, "differs", "transposed_kernel_not_flipped")])
def test_a_flax_conv_transpose_port_agrees_only_with_its_kernel_transposed(nnx, transpose_kernel, verdict, weights):
    """PyTorch's padding=1, output_padding=1 at stride 2 is Flax's ((1, 2), (1, 2)) of the
    dilated input; PyTorch weights (in, out, kh, kw) go in as (kh, kw, out, in)."""
    torch.manual_seed(4)
    model = Decoder()
    port = nnx.ConvTranspose(4, 3, (3, 3), strides=(2, 2), padding=((1, 2), (1, 2)), transpose_kernel=transpose_kernel,
                             rngs=nnx.Rngs(0))
    w = model.up.weight.detach().numpy()
    port.kernel[...] = w.transpose(2, 3, 1, 0) if transpose_kernel else w.transpose(2, 3, 0, 1)
    port.bias[...] = model.up.bias.detach().numpy()
    example = np.random.default_rng(5).uniform(-1, 1, (2, 4, 5, 5)).astype(np.float32)
    result = compare_models(model, port, torch.from_numpy(example))
    (pair,) = result.pairs
    assert (pair.verdict, pair.weights, pair.spec_differences) == (verdict, weights, ()), pair


def test_compare_command_takes_a_flax_target(nnx, tmp_path, capsys, monkeypatch):
    (tmp_path / "flaxpair.py").write_text(textwrap.dedent("""
        import numpy as np, torch
        from flax import nnx
        from test_compare import net, flax_port

        def source():
            return net()

        def good():
            return flax_port(nnx, net())

        def bad():
            return flax_port(nnx, net(), "spatial_axes_swapped", "conv2")
    """))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["compare", "flaxpair:source", "flaxpair:good", "--input-shape", "1,3,16,16"]) == 0
    out = tmp_path / "cmp.json"
    assert main(["compare", "flaxpair:source", "flaxpair:bad", "--input-shape", "1,3,16,16", "--json", str(out)]) == 1
    data = json.loads(out.read_text())
    assert data["first_divergence"] == "conv2" and data["pairs"][1]["weights"] == "spatial_axes_swapped"
    assert "flax.nnx.Conv(" in data["pairs"][1]["call"]
    assert "first divergence: conv2" in capsys.readouterr().out


def test_a_flax_model_as_the_source_and_its_pytorch_port(nnx):
    """The other direction: the Flax model's channels-last example goes to PyTorch channels-first."""
    model = net()
    source = flax_port(nnx, model)
    example = np.ascontiguousarray(EXAMPLE.transpose(0, 2, 3, 1))
    result = compare_models(source, model, example)
    assert [(p.source, p.target, p.verdict) for p in result.pairs] == [
        (f"conv{i}", f"conv{i}", "agree") for i in range(1, 5)], [p.to_dict() for p in result.pairs]
    assert result.final_output["source_shape"] == [2, 8, 8, 4] and result.final_output["max_abs_error"] < 1e-4
    flipped = compare_models(flax_port(nnx, model, "flipped_kernel", "conv3"), model, example).first_divergence
    assert (flipped.source, flipped.weights) == ("conv3", "flipped_kernel")
    assert "torch.nn.functional.conv2d(" in flipped.call


def test_a_flax_port_that_pads_with_jnp_pad_agrees(nnx):
    """PyTorch's padding=1 at stride 2 written as jnp.pad, then 'VALID': the pad is found in the data."""
    import jax.numpy as jnp

    model = net()

    class Port(nnx.Module):
        def __init__(self, rngs):
            self.conv1 = nnx.Conv(3, 8, (3, 3), strides=2, padding="VALID", rngs=rngs)

        def __call__(self, x):
            return self.conv1(jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0))))

    port = Port(nnx.Rngs(0))
    port.conv1.kernel[...] = kernel(model.conv1)
    port.conv1.bias[...] = model.conv1.bias.detach().numpy()

    class First(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = model.conv1

        def forward(self, x):
            return self.conv1(x)

    result = compare_models(First(), port, torch.from_numpy(EXAMPLE))
    assert [(p.source, p.target, p.verdict) for p in result.pairs] == [("conv1", "conv1", "agree")], \
        [p.to_dict() for p in result.pairs]


# -- after the first divergence ------------------------------------------------------------

@pytest.mark.parametrize("port", PORTS)
def test_only_the_first_conv_wrong_is_one_divergence_and_later_pairs_inherit_it(request, port):
    """conv1's kernel flipped: every later conv is right and gets a different input only because
    conv1's output differs; rerun on the source's conv outputs, the port's layers between agree."""
    build, _ = PORTS[port]
    model = net()
    result = compare_models(model, build(request, model, "flipped_kernel", "conv1"), torch.from_numpy(EXAMPLE))
    verdicts = [(p.source, p.verdict) for p in result.pairs]
    assert verdicts == [("conv1", "differs"), ("conv2", "inherited"), ("conv3", "inherited"),
                        ("conv4", "inherited")], [p.to_dict() for p in result.pairs]
    assert [p.source for p in result.pairs if p.verdict not in ("agree", "inherited")] == ["conv1"]
    assert result.first_divergence.source == "conv1" and not result.agree
    for later in result.pairs[1:]:
        assert "inherited from conv1" in later.detail and later.fix == "", later
        assert "parted between" not in later.detail


def test_a_missing_activation_after_the_first_divergence_is_found_at_its_own_place(keras):
    """conv1's kernel flipped and, three convs later, conv3's ReLU left out: conv1 differs, conv2 and
    conv3 inherit it, and conv4's input differs on its own (the stretch between conv3 and conv4)."""
    model = net()
    port = keras_port(keras, model, "flipped_kernel", "conv1")
    port.get_layer("conv3").activation = keras.activations.linear
    result = compare_models(model, port, torch.from_numpy(EXAMPLE))
    assert [(p.source, p.verdict) for p in result.pairs] == [
        ("conv1", "differs"), ("conv2", "inherited"), ("conv3", "inherited"), ("conv4", "input_differs")], \
        [p.to_dict() for p in result.pairs]
    first, last = result.pairs[0], result.pairs[3]
    assert first.weights == "flipped_kernel" and result.first_divergence is first
    assert "parted between conv3 and this layer" in last.detail
    assert "fed the source's conv outputs, the target's layers before this one still give an input off by" \
        in last.detail
    assert last.fix.startswith("fix: compare what the two models do between these convolutions")


# -- structured outputs ---------------------------------------------------------------------

class TwoHeads(torch.nn.Module):
    """Net returning a mapping: its features (conv3's, channels-first) and its logits (conv4's)."""

    def __init__(self):
        super().__init__()
        self.net = net()

    def forward(self, x):
        n = self.net
        features = torch.relu(n.conv3(torch.relu(n.conv2(torch.relu(n.conv1(x))))))
        return {"features": features, "logits": n.conv4(features)}


def two_heads_port(keras, model, mistake=None):
    """The Keras port of TwoHeads: its mapping written in the other order, channels-last."""
    port = keras_port(keras, model.net, mistake, "conv4")
    features = port.get_layer("conv3").output
    return keras.Model(port.inputs, {"logits": port.outputs[0], "features": features})


def test_a_mapping_of_two_arrays_is_compared_leaf_by_leaf_paired_by_key(keras, tmp_path):
    model = TwoHeads()
    result = compare_models(model, two_heads_port(keras, model), torch.from_numpy(EXAMPLE))
    assert result.agree
    leaves = result.final_output["leaves"]
    assert [leaf["leaf"] for leaf in leaves] == ["features", "logits"]
    # each leaf in the source's layout: the Keras port's (2, 8, 8, 16) features converted to (2, 16, 8, 8)
    assert [(leaf["source_shape"], leaf["target_shape"]) for leaf in leaves] == [
        ([2, 16, 8, 8], [2, 16, 8, 8]), ([2, 4, 8, 8], [2, 4, 8, 8])]
    assert all(leaf["max_abs_error"] < 1e-4 for leaf in leaves)
    text = table.comparison(result)
    assert "final outputs: features: max abs error" in text and "; logits: max abs error" in text
    wrong = compare_models(model, two_heads_port(keras, model, "missing_bias"), EXAMPLE)  # a NumPy example too
    features, logits = wrong.final_output["leaves"]
    bias = float(np.abs(model.net.conv4.bias.detach().numpy()).min())
    assert features["max_abs_error"] < 1e-4 and logits["max_abs_error"] >= bias  # only the logits lost their bias
    assert json.loads(json.dumps(wrong.to_dict()))["final_output"]["leaves"][1]["leaf"] == "logits"


def test_structured_outputs_flatten_by_key_field_and_position():
    from collections import namedtuple
    from dataclasses import dataclass

    from harness.porting import flatten

    Pair = namedtuple("Pair", "a b")

    @dataclass
    class Out:
        boxes: object
        scores: object

    tree = {"x": [1, (2, 3)], "y": Pair(4, Out(5, {"z": 6}))}
    assert flatten(tree) == [(("x", 0), 1), (("x", 1, 0), 2), (("x", 1, 1), 3), (("y", "a"), 4),
                             (("y", "b", "boxes"), 5), (("y", "b", "scores", "z"), 6)]
    assert flatten(np.zeros(2))[0][0] == ()


# -- fixes in the target's own terms -----------------------------------------------------------

@pytest.mark.parametrize("port,fix", [
    ("keras", "fix: put keras.layers.ZeroPadding2D(((1, 1), (1, 1))) before the keras.layers.Conv2D and give it "
              "padding='valid'"),
    ("flax", "fix: give the Conv padding=((1, 1), (1, 1))")])
def test_a_padding_mistake_is_fixed_in_the_target_frameworks_own_terms(request, port, fix):
    build, _ = PORTS[port]
    model = net()
    first = compare_models(model, build(request, model, "padding", "conv1"), torch.from_numpy(EXAMPLE)).first_divergence
    assert first.spec_differences == ("padding",) and first.fix == fix


def test_a_flipped_keras_conv_transpose_kernel_gets_keras_advice(keras):
    torch.manual_seed(4)
    model = Decoder()
    model.up = torch.nn.ConvTranspose2d(4, 3, 3, stride=2)  # Keras' 'valid': no crop, (n - 1) * 2 + 3 out
    inputs = keras.Input((5, 5, 4))
    layer = keras.layers.Conv2DTranspose(3, 3, strides=2, padding="valid")
    port = keras.Model(inputs, layer(inputs))
    w = model.up.weight.detach().numpy()  # (in, out, kh, kw) -> Keras (kh, kw, out, in), here flipped
    layer.set_weights([np.ascontiguousarray(w.transpose(2, 3, 1, 0)[::-1, ::-1]), model.up.bias.detach().numpy()])
    example = np.random.default_rng(5).uniform(-1, 1, (2, 4, 5, 5)).astype(np.float32)
    (pair,) = compare_models(model, port, example).pairs
    assert pair.verdict == "differs" and pair.spec_differences == (), pair
    assert "keras.layers.Conv2DTranspose" in pair.fix and "w.transpose(2, 3, 1, 0)" in pair.fix, pair.fix
    assert "jax" not in pair.fix


def test_the_comparison_table_lets_the_fix_and_what_differs_wrap():
    from pathlib import Path

    import harness.report

    css = (Path(harness.report.__file__).parent / "templates" / "report.css").read_text()
    page = (Path(harness.report.__file__).parent / "templates" / "index.html.j2").read_text()
    assert 'class="comparison"' in page and 'class="fix"' in page and 'class="detail"' in page
    rules = dict(re.findall(r"([^{}]+)\{([^}]*)\}", css))
    wrapping = {selector.strip(): body for selector, body in rules.items() if "table.comparison" in selector}
    assert any("td.fix" in s and "overflow-wrap: anywhere" in b for s, b in wrapping.items()), wrapping
    assert any("td.detail" in s and "min-width" in b for s, b in wrapping.items()), wrapping
    assert not [s for s, b in wrapping.items() if "nowrap" in b]
    assert "white-space: pre-wrap" in next(b for s, b in wrapping.items() if "pre" in s)
