"""ONNX: onnxruntime as a backend (the call renders the ONNX node and reruns as shown; outputs
computed by hand) and ONNX graphs as models: each node's attributes as a spec whose float64
reference equals what onnxruntime computed for it, a PyTorch network exported with
torch.onnx.export agreeing with its export pair by pair, and a mistake edited into the
graph's initializers found at its layer with its name."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from harness import ConvSpec, available_backends, run_backend
from harness import Unsupported, backend_vjp
from harness.backends import get_backend
from harness.cli import main
from harness.porting import check_model, model_kind, scan
from harness.porting.model_comparison import compare_models
from helpers import assert_every_layer_agrees, imported

imported("onnxruntime")  # the onnx extra: onnx and onnxruntime, or the module skipped with its hint
import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

BACKEND = "onnxruntime"


# -- the backend ---------------------------------------------------------------------------

def test_onnxruntime_runs_by_default_where_installed():
    assert BACKEND in available_backends()


def conv1d(x, w, **fields):
    """NCW, one batch, as tests/test_reference_by_hand.py writes its cases."""
    x, w = np.asarray(x, np.float32), np.asarray(w, np.float32)
    spec = ConvSpec(layout="NCW", in_channels=x.shape[0], out_channels=w.shape[0], spatial=x.shape[-1],
                    kernel=w.shape[-1], **fields)
    return run_backend(BACKEND, spec, x[None], w)[0]


HAND = {
    # xpad = [0, 1, 2, 3, 4, 0, 0]; y[i] = xpad[i] + 10*xpad[i+1]
    "asymmetric padding": (([[1, 2, 3, 4]], [[[1, 10]]]), dict(padding=((1, 2),)), [[10, 21, 32, 43, 4, 0]]),
    # y[i] = x[i] + 10*x[i+2]
    "dilation": (([[1, 2, 3, 4, 5]], [[[1, 10]]]), dict(dilation=2), [[31, 42, 53]]),
    # windows start at 0, 2: [1,2,3] . [1,0,-1] = -2, [3,4,5] . [1,0,-1] = -2
    "stride": (([[1, 2, 3, 4, 5]], [[[1, 0, -1]]]), dict(stride=2), [[-2, -2]]),
    # in 4 -> out 2, groups 2: y0 = x0 + 10*x1, y1 = 100*x2 + 1000*x3
    "groups": (([[1], [2], [3], [4]], [[[1], [10]], [[100], [1000]]]), dict(groups=2), [[21], [4300]]),
    # pad (2-1)*3 = 3 before: xpad = [0, 0, 0, 1, 2, 3, 4]; y[i] = xpad[i] + 10*xpad[i+3]
    "causal, dilated": (([[1, 2, 3, 4]], [[[1, 10]]]), dict(padding="causal", dilation=3), [[10, 20, 30, 41]]),
    # total pad 1 -> (0, 1): xpad = [1, 2, 3, 4, 0]
    "same, even kernel": (([[1, 2, 3, 4]], [[[1, 10]]]), dict(padding="same"), [[21, 32, 43, 4]]),
    # [1 2 3 4] reflected by (2, 1) through a 1x1 kernel of weight 1: a Pad node before the conv
    "reflect": (([[1, 2, 3, 4]], [[[1]]]), dict(padding=((2, 1),), padding_mode="reflect"), [[3, 2, 1, 2, 3, 4, 3]]),
    # the full output [1, 10, 2, 20, 3, 30] cropped (1, 1), output_padding 1 selects the computed 30
    "transposed": (([[1, 2, 3]], [[[1, 10]]]), dict(transposed=True, stride=2, padding=1, output_padding=1),
                   [[10, 2, 20, 3, 30]]),
}


@pytest.mark.parametrize("name", HAND)
def test_onnxruntime_gives_the_hand_computed_output(name):
    (x, w), fields, expected = HAND[name]
    np.testing.assert_array_equal(conv1d(x, w, **fields), np.asarray(expected, np.float32))


CALLS = {
    "forward": ConvSpec(layout="NHWC", in_channels=4, out_channels=6, spatial=(6, 5), kernel=(3, 2), stride=(2, 1),
                        padding="same", groups=2, bias=True, padding_mode="reflect"),
    "transposed": ConvSpec(layout="NCHW", in_channels=2, out_channels=3, spatial=(4, 3), kernel=3, stride=2,
                           padding=((2, 1), (0, 1)), output_padding=1, transposed=True, bias=True),
}


@pytest.mark.parametrize("name", CALLS)
def test_the_call_renders_the_onnx_node_and_reruns_as_shown(name):
    spec = CALLS[name]
    rng = np.random.default_rng(0)
    x, w, b = (rng.uniform(-1, 1, shape).astype(np.float32)
               for shape in (spec.input_shape, spec.weight_shape, spec.bias_shape))
    y, rendered = get_backend(BACKEND).run(spec, x, w, b)
    op = "ConvTranspose" if spec.transposed else "Conv"
    assert rendered.native.startswith(f"node = onnx.helper.make_node('{op}'")
    assert "onnxruntime.InferenceSession(" in rendered.code
    shown = {"x": x, "w": w, "b": b}
    exec(rendered.standalone(), shown)  # what explain, records and reproducers show, run as pasted
    np.testing.assert_array_equal(shown["y"], y)


def test_onnxruntime_refuses_a_gradient_as_declared_forward_only():
    spec = CALLS["forward"].replace(padding_mode="zeros")
    x, w = np.ones(spec.input_shape, np.float32), np.ones(spec.weight_shape, np.float32)
    with pytest.raises(Unsupported, match="forward only") as info:
        backend_vjp(BACKEND, spec, x, w, None, np.ones(spec.output_shape, np.float32))
    assert info.value.refusal.name == "forward_only"


# -- ONNX graphs as models: each attribute read as onnxruntime computes it -------------------

def graph(nodes, x_shape, initializers, opset=17):
    """A float32 model of ``nodes`` from input x to output y, the arrays as initializers."""
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(np.asarray(v), k) for k, v in initializers.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def weights(*shape):
    return np.random.default_rng(1).uniform(-1, 1, shape).astype(np.float32)


def conv(x_shape, w_shape, op="Conv", **attributes):
    node = helper.make_node(op, ["x", "w", "b"], ["y"], name="node", **attributes)
    out = w_shape[1] if op == "ConvTranspose" else w_shape[0]
    return graph([node], x_shape, {"w": weights(*w_shape), "b": weights(out)})


# each: the model, the input shape, and the spec fields its node means (by the ONNX operator docs)
NODES = {
    "SAME_UPPER, stride 2, even size": (conv((1, 2, 6, 7), (3, 2, 3, 2), auto_pad="SAME_UPPER", strides=[2, 2]),
                                        dict(padding=((0, 1), (0, 1)))),  # totals (3-1)*2+3-6 = 1, (4-1)*2+2-7 = 1
    "SAME_LOWER puts the odd pad first": (conv((1, 2, 6), (3, 2, 2), auto_pad="SAME_LOWER"), dict(padding=((1, 0),))),
    "VALID": (conv((1, 2, 6), (3, 2, 3), auto_pad="VALID", strides=[2]), dict(padding=((0, 0),))),
    "pads, dilation, group": (conv((2, 4, 7, 6), (4, 2, 3, 2), pads=[1, 0, 2, 1], dilations=[2, 1], group=2),
                              dict(padding=((1, 2), (0, 1)), dilation=(2, 1), groups=2)),
    "ConvTranspose pads and output_padding": (
        conv((1, 2, 4, 3), (2, 3, 3, 3), op="ConvTranspose", strides=[2, 2], pads=[1, 0, 1, 1],
             output_padding=[1, 1]), dict(padding=((1, 1), (0, 1)), output_padding=(1, 1))),
    # output_shape 9: total (4-1)*2 + 3 - 9 = 0; 7 of the full 9: total 2, split (1, 1)
    "ConvTranspose output_shape": (conv((1, 2, 4, 4), (2, 3, 3, 3), op="ConvTranspose", strides=[2, 2],
                                        output_shape=[9, 7]), dict(padding=((0, 0), (1, 1)))),
    # output 4*2 = 8 of the full 9: total 1, the smaller half (0) first for SAME_UPPER
    "ConvTranspose SAME_UPPER": (conv((1, 2, 4), (2, 3, 3), op="ConvTranspose", strides=[2], auto_pad="SAME_UPPER"),
                                 dict(padding=((0, 1),))),
    # the same total 1 split the other way: the larger half first for SAME_LOWER
    "ConvTranspose SAME_LOWER": (conv((1, 2, 4), (2, 3, 3), op="ConvTranspose", strides=[2], auto_pad="SAME_LOWER"),
                                 dict(padding=((1, 0),))),
    # output_shape 8 of the full 9 without auto_pad: the larger half first, as for SAME_LOWER
    "ConvTranspose odd output_shape": (conv((1, 2, 4), (2, 3, 3), op="ConvTranspose", strides=[2], output_shape=[8]),
                                       dict(padding=((1, 0),))),
}


@pytest.mark.parametrize("name", NODES)
def test_a_node_becomes_the_spec_onnx_defines_and_onnxruntime_computes(name):
    model, fields = NODES[name]
    x_shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    scanned = scan(model, weights(*x_shape))
    (layer,) = scanned.layers
    assert layer.name == "node" and layer.kind == f"onnx.{model.graph.node[0].op_type}"
    assert {k: getattr(layer.spec, "explicit_padding" if k == "padding" else k) for k in fields} == fields
    assert layer.spec.bias and layer.spec.layout in ("NCW", "NCHW")
    assert_every_layer_agrees(check_model(scanned, ["numpy"]), "onnx model")  # onnxruntime's own output too


def test_a_zero_pad_node_is_folded_and_constant_node_weights_are_read():
    w = helper.make_node("Constant", [], ["w"], value=numpy_helper.from_array(weights(3, 2, 3, 3)))
    pad = helper.make_node("Pad", ["x", "pads"], ["padded"], mode="constant")
    node = helper.make_node("Conv", ["padded", "w"], ["y"], pads=[1, 1, 1, 1])  # no name: named by its output
    model = graph([w, pad, node], (1, 2, 5, 5), {"pads": np.array([0, 0, 2, 0, 0, 0, 0, 1], np.int64)})
    example = weights(1, 2, 5, 5)
    folded = scan(model, example, fold_zero_padding=True).layers[0]
    assert folded.name == "y" and folded.spec.padding == ((3, 1), (1, 2)) and folded.x.shape == (1, 2, 5, 5)
    as_written = scan(model, example).layers[0]
    assert as_written.spec.padding == ((1, 1), (1, 1)) and as_written.x.shape == (1, 2, 7, 6)
    for scanned in (scan(model, example, fold_zero_padding=True), scan(model, example)):
        assert_every_layer_agrees(check_model(scanned, ["numpy"]), "onnx model")


PADS = {  # a Pad node's inputs beside x, the opset, and the spatial pads folded (None: not a zero pad)
    "axes (opset 18)": (dict(pads=np.array([2, 0, 1, 3], np.int64), axes=np.array([-2, 3], np.int64)), 18,
                        ((2, 1), (0, 3))),
    "a value of 1": (dict(pads=np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), value=np.array(1, np.float32)), 17,
                     None),
    "a channel pad": (dict(pads=np.array([0, 1, 0, 0, 0, 0, 0, 0], np.int64)), 17, None),
}


@pytest.mark.parametrize("name", PADS)
def test_only_a_pad_of_zeros_on_the_spatial_axes_is_folded(name):
    inputs, opset, folded = PADS[name]
    names = ["x", "pads", "value" if "value" in inputs else "", "axes" if "axes" in inputs else ""]
    while not names[-1]:  # an optional input left out is "" only before one given
        names.pop()
    pad = helper.make_node("Pad", names, ["padded"])
    channels = 3 if name == "a channel pad" else 2
    node = helper.make_node("Conv", ["padded", "w"], ["y"], name="conv")
    model = graph([pad, node], (1, 2, 5, 5), {"w": weights(3, channels, 2, 2), **inputs}, opset=opset)
    (layer,) = scan(model, weights(1, 2, 5, 5), fold_zero_padding=True).layers
    if folded is None:
        assert not layer.spec.padded and layer.x.shape != (1, 2, 5, 5)
    else:
        assert layer.spec.padding == folded and layer.x.shape == (1, 2, 5, 5)
    assert_every_layer_agrees(check_model(scan(model, weights(1, 2, 5, 5), fold_zero_padding=True), ["numpy"]),
                              "onnx model")


def test_a_quantized_conv_is_listed_as_not_checked():
    node = helper.make_node("ConvInteger", ["q", "wq"], ["y"], name="quantized")
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("q", TensorProto.UINT8, (1, 1, 3))],
                          [helper.make_tensor_value_info("y", TensorProto.INT32, None)],
                          [numpy_helper.from_array(np.ones((1, 1, 2), np.uint8), "wq")])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    (layer,) = scan(model, np.ones((1, 1, 3), np.uint8)).layers
    assert layer.spec is None and layer.name == "quantized" and "quantized" in layer.unsupported


def test_onnx_models_are_recognised_by_proto_and_by_path(tmp_path):
    model = NODES["VALID"][0]
    assert model_kind(model).NAME == model_kind("model.onnx").NAME == model_kind(tmp_path / "m.ONNX").NAME == "onnx"
    assert model_kind("model.txt") is None
    with pytest.raises(ValueError, match="no such ONNX file"):
        scan(str(tmp_path / "missing.onnx"), np.zeros((1, 2, 6), np.float32))


# -- a PyTorch network and its ONNX export ----------------------------------------------------

torch = imported("torch")


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.pad = torch.nn.ZeroPad2d((1, 0, 1, 0))
        self.conv2 = torch.nn.Conv2d(8, 8, 3, groups=8)
        self.conv3 = torch.nn.Conv2d(8, 16, 3, padding=2, dilation=2, bias=False)
        self.up = torch.nn.ConvTranspose2d(16, 4, 3, stride=2, padding=1, output_padding=1)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(self.pad(x)))
        x = torch.relu(self.conv3(x))
        return self.up(x)


def net():
    torch.manual_seed(0)
    model = Net().eval()
    with torch.no_grad():
        for p in model.parameters():  # non-zero biases, so a dropped one shows
            p.uniform_(-0.5, 0.5)
    return model


EXAMPLE = np.random.default_rng(0).uniform(-1, 1, (2, 3, 16, 16)).astype(np.float32)


def export(model, path) -> str:
    """``model`` exported by the TorchScript exporter (offline: it needs no onnxscript)."""
    import warnings

    with warnings.catch_warnings():  # the exporter's notes: a newer exporter exists, a Slice not folded
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.from_numpy(EXAMPLE),), str(path), dynamo=False)
    return str(path)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return export(net(), tmp_path_factory.mktemp("onnx") / "net.onnx")


def test_a_pytorch_network_agrees_with_its_onnx_export_pair_by_pair(exported):
    result = compare_models(net(), exported, torch.from_numpy(EXAMPLE))
    assert [(p.source, p.target, p.verdict) for p in result.pairs] == [
        (name, f"/{name}/{op}", "agree") for name, op in
        (("conv1", "Conv"), ("conv2", "Conv"), ("conv3", "Conv"), ("up", "ConvTranspose"))]
    assert result.final_output["max_abs_error"] < 1e-4
    assert_every_layer_agrees(check_model(scan(exported, EXAMPLE), ["numpy", BACKEND]), "onnx model")


def with_weights(path, node_name, edit):
    """The model at ``path`` with ``edit`` applied to the weight initializer of node ``node_name``."""
    model = onnx.load(path)
    name = next(node.input[1] for node in model.graph.node if node.name == node_name)
    tensor = next(t for t in model.graph.initializer if t.name == name)
    tensor.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(edit(numpy_helper.to_array(tensor))), name))
    return model


EDITS = {
    "flipped_kernel": lambda w: w[:, :, ::-1, ::-1],
    "spatial_axes_swapped": lambda w: w.transpose(0, 1, 3, 2),
}


@pytest.mark.parametrize("mistake", EDITS)
def test_a_mistake_edited_into_the_initializers_is_found_at_its_layer(exported, mistake):
    port = with_weights(exported, "/conv3/Conv", EDITS[mistake])
    result = compare_models(net(), port, torch.from_numpy(EXAMPLE))
    first = result.first_divergence
    assert (first.source, first.target, first.verdict) == ("conv3", "/conv3/Conv", "differs"), first
    assert first.weights == mistake and first.mistakes[0] == mistake
    assert "onnx.helper.make_node('Conv'" in first.call  # the call the port needs, in ONNX


def test_compare_and_port_commands_take_an_onnx_file(exported, tmp_path, monkeypatch, capsys):
    (tmp_path / "onnx_pair.py").write_text(textwrap.dedent(f"""
        import numpy as np, onnx, torch
        from test_onnx import EXAMPLE, net, with_weights

        def source():
            return net(), torch.from_numpy(EXAMPLE)

        def good():
            return {exported!r}

        def bad():
            return with_weights({exported!r}, "/conv3/Conv", lambda w: w[:, :, ::-1, ::-1])

        def ported():
            return {exported!r}, EXAMPLE
    """))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["compare", "onnx_pair:source", "onnx_pair:good"]) == 0
    assert main(["compare", "onnx_pair:source", "onnx_pair:bad"]) == 1
    assert "first divergence: conv3" in capsys.readouterr().out
    assert main(["port", "onnx_pair:ported", "--backends", f"numpy,{BACKEND}", "--quiet"]) == 0
    assert "4 layers: 4 agree" in capsys.readouterr().out
    assert main(["port", "onnx_pair:good", "--input-shape", "2,3,16,16", "--backends", "numpy", "--quiet"]) == 0
