"""Flax linen ports, as published: a linen network called through a wrapper that holds
its variables and jits its apply. A correct port of a PyTorch network agrees pair by
pair (and exits 0 through the CLI); each injected mistake of the compare tests is found
at the layer where it was made."""

from __future__ import annotations

import functools
import textwrap

import numpy as np
import pytest

from harness.cli import main
from harness.porting import check_model, model_kind, scan
from harness.porting.model_comparison import compare_models
from helpers import assert_every_layer_agrees, assert_mistake_found, imported
from test_compare import MISTAKES, kernel

torch = imported("torch")
jax = imported("jax")
nn = imported("flax.linen")

# 17 x 17 at stride 2: Flax's 'SAME' pads (1, 1), as PyTorch's padding=1 does
EXAMPLE = np.random.default_rng(0).uniform(-1, 1, (2, 3, 17, 17)).astype(np.float32)


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.bn = torch.nn.BatchNorm2d(8)
        self.conv2 = torch.nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.conv3 = torch.nn.Conv2d(8, 16, 3, padding=1)
        self.conv4 = torch.nn.ConvTranspose2d(16, 4, 3, stride=2, padding=1)

    def forward(self, x):
        x = torch.relu(self.bn(self.conv1(x)))
        x = torch.relu(self.conv2(x))
        x = torch.relu(self.conv3(x))
        return self.conv4(x)


def net() -> Net:
    torch.manual_seed(0)
    model = Net()
    with torch.no_grad():
        for p in model.parameters():  # non-zero biases, so a dropped one shows
            p.uniform_(-0.5, 0.5)
        model.bn.running_mean.uniform_(-0.5, 0.5)
        model.bn.running_var.uniform_(0.5, 1.5)
    return model.eval()


class LinenNet(nn.Module):
    """Net in linen (channels-last), with ``mistake`` made where the compare tests make it."""

    mistake: str | None = None

    @nn.compact
    def __call__(self, x):
        x = nn.Conv(8, (3, 3), strides=2, padding="VALID" if self.mistake == "padding" else "SAME", name="conv1")(x)
        x = nn.relu(nn.BatchNorm(use_running_average=True, epsilon=1e-5, name="bn")(x))
        x = nn.Conv(8, (3, 3), padding=1, feature_group_count=8, name="conv2")(x)
        x = x if self.mistake == "missing_activation" else nn.relu(x)
        x = nn.relu(nn.Conv(16, (3, 3), padding=1, use_bias=self.mistake != "missing_bias", name="conv3")(x))
        # PyTorch's padding=1 at stride 2 is (k - 1 - 1) = 1 on each side of the dilated input
        return nn.ConvTranspose(4, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)), transpose_kernel=True,
                                name="conv4")(x)


class Port:
    """What a published Flax port looks like: the module and its variables, its apply jitted."""

    def __init__(self, module: nn.Module, variables):
        self.module, self.variables = module, variables
        self._apply = jax.jit(module.apply)

    def __call__(self, x):
        return self._apply(self.variables, x)


def variables_of(model: Net, mistake=None, layer=None) -> dict:
    """The PyTorch network's weights as linen variables (kernels (kh, kw, in, out))."""
    params = {}
    for name in ("conv1", "conv2", "conv3", "conv4"):
        conv = getattr(model, name)
        params[name] = {"kernel": kernel(conv, mistake if name == layer else None)}
        if not (name == "conv3" and mistake == "missing_bias"):
            params[name]["bias"] = conv.bias.detach().numpy()
    bn = model.bn
    params["bn"] = {"scale": bn.weight.detach().numpy(), "bias": bn.bias.detach().numpy()}
    stats = {"bn": {"mean": bn.running_mean.numpy(), "var": bn.running_var.numpy()}}
    return {"params": params, "batch_stats": stats}


def linen_port(model: Net, mistake=None, layer=None) -> Port:
    return Port(LinenNet(mistake), variables_of(model, mistake, layer))


def channels_last(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


def test_a_linen_port_through_a_jitting_wrapper_agrees_at_every_pair():
    model = net()
    result = compare_models(model, linen_port(model), torch.from_numpy(EXAMPLE))
    assert [(p.source, p.target, p.verdict) for p in result.pairs] == [
        (f"conv{i}", f"conv{i}", "agree") for i in range(1, 5)], [p.to_dict() for p in result.pairs]
    assert result.final_output["target_shape"] == [2, 4, 17, 17] and result.final_output["max_abs_error"] < 1e-4


# the compare tests' mistakes, made in this network: its 1x1 conv4 is a ConvTranspose here,
# so the bias is dropped at conv3
LINEN_MISTAKES = [(m, "conv3" if m == "missing_bias" else layer, verdict, differences, weights, named)
                  for m, layer, verdict, differences, weights, named in MISTAKES]


@pytest.mark.parametrize("mistake,layer,verdict,differences,weights,named", LINEN_MISTAKES)
def test_an_injected_mistake_in_a_linen_port_is_found_at_its_layer(mistake, layer, verdict, differences, weights,
                                                                    named):
    model = net()
    result = compare_models(model, linen_port(model, mistake, layer), torch.from_numpy(EXAMPLE))
    assert_mistake_found(result, layer, verdict, differences, weights, named)


@pytest.mark.parametrize("form", ["bound", "partial", "wrapper"])
def test_each_form_of_a_linen_model_is_scanned_with_its_module_paths_and_parameters(form):
    model = net()
    module, variables = LinenNet(), variables_of(model)
    runs = {"bound": lambda: module.bind(variables), "partial": lambda: functools.partial(module.apply, variables),
            "wrapper": lambda: Port(module, variables)}[form]()
    scanned = scan(runs, channels_last(EXAMPLE))
    assert [(layer.name, layer.kind) for layer in scanned.layers] == [
        ("conv1", "flax.linen.Conv"), ("conv2", "flax.linen.Conv"), ("conv3", "flax.linen.Conv"),
        ("conv4", "flax.linen.ConvTranspose")]
    conv1, conv2, _, conv4 = scanned.layers
    assert conv1.spec.stride == (2, 2) and conv1.spec.explicit_padding == ((1, 1), (1, 1))
    assert conv2.spec.groups == 8
    assert conv4.spec.transposed and conv4.spec.padding == ((1, 1), (1, 1))
    # PyTorch's (in, out, kh, kw) ConvTranspose weight is the neutral transposed order itself
    np.testing.assert_array_equal(conv4.w, model.conv4.weight.detach().numpy())
    np.testing.assert_array_equal(conv1.b, model.conv1.bias.detach().numpy())


class Paddings(nn.Module):
    """Each padding form of linen's Conv and ConvTranspose, one layer each."""

    @nn.compact
    def __call__(self, x):
        x = nn.Conv(4, (3, 3), kernel_dilation=2, padding="CIRCULAR", name="circular")(x)
        x = nn.Conv(4, (4, 2), padding="REFLECT", name="reflect")(x)
        x = nn.Conv(4, (2, 3), strides=(2, 1), padding=((2, 0), (1, 3)), name="pairs")(x)
        mask = np.ones((3, 3, 4, 3), np.float32)
        mask[1, 1] = 0
        x = nn.Conv(3, (3, 3), padding="VALID", mask=mask, name="masked")(x)
        x = nn.ConvTranspose(2, (3, 3), strides=(2, 2), padding="SAME", name="up")(x)  # not flipped
        causal = nn.Conv(2, (3,), kernel_dilation=2, padding="CAUSAL", name="causal")
        return causal(x.reshape(x.shape[0], -1, x.shape[-1]))


def test_each_linen_padding_form_is_the_spec_the_layer_computes():
    """The layers' own outputs (computed by Flax) against the float64 reference of each scanned spec."""
    x = np.random.default_rng(2).uniform(-1, 1, (2, 11, 10, 3)).astype(np.float32)
    module = Paddings()
    variables = module.init(jax.random.key(1), x)
    scanned = scan(functools.partial(module.apply, variables), x)
    assert [layer.name for layer in scanned.layers] == ["circular", "reflect", "pairs", "masked", "up", "causal"]
    modes = [layer.spec.padding_mode for layer in scanned.layers]
    assert modes == ["circular", "reflect", "zeros", "zeros", "zeros", "zeros"]
    assert scanned.layers[-1].spec.padding == "causal"
    assert_every_layer_agrees(check_model(scanned, ["numpy"]), "flax model")


def test_a_locally_connected_linen_conv_is_listed_as_not_checked():
    class Local(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.ConvLocal(2, (3, 3), name="local")(nn.Conv(2, (1, 1), name="pointwise")(x))

    x = np.ones((1, 5, 5, 3), np.float32)
    local = Local()
    scanned = scan(local.bind(local.init(jax.random.key(0), x)), x)
    assert [(layer.name, layer.spec is None) for layer in scanned.layers] == [("pointwise", False), ("local", True)]
    assert "locally connected" in scanned.layers[1].unsupported


def test_a_callable_is_a_linen_model_only_where_it_holds_a_linen_module():
    class Holder:
        def __init__(self):
            self.weights = {"kernel": np.ones(3)}

        def __call__(self, x):
            return x

    module = LinenNet()
    assert model_kind(Holder()) is None and model_kind(print) is None
    assert model_kind(Port(module, {})).NAME == "flax"
    assert model_kind(jax.jit(functools.partial(module.apply, {}))).NAME == "flax"
    assert model_kind(lambda x: module.apply({}, x)).NAME == "flax"  # a closure over the module


def test_an_unbound_linen_module_is_refused_in_one_line():
    with pytest.raises(ValueError, match=r"not bound to its variables: pass module.bind\(variables\)"):
        scan(LinenNet(), channels_last(EXAMPLE))


def test_compare_and_port_take_a_linen_port_on_the_command_line(tmp_path, capsys, monkeypatch):
    (tmp_path / "linenpair.py").write_text(textwrap.dedent("""
        import numpy as np, torch
        from test_scan_linen import EXAMPLE, net, linen_port

        def source():
            return net(), torch.from_numpy(EXAMPLE)

        def good():
            return linen_port(net())

        def bad():
            return linen_port(net(), "flipped_kernel", "conv3")

        def nothing():
            return object()
    """))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["compare", "linenpair:source", "linenpair:good"]) == 0
    assert main(["compare", "linenpair:source", "linenpair:bad"]) == 1
    assert "first divergence: conv3" in capsys.readouterr().out
    assert main(["port", "linenpair:good", "--input-shape", "1,17,17,3", "--backends", "numpy", "--quiet"]) == 0
    assert "4 layers: 4 agree" in capsys.readouterr().out
    for command in (["compare", "linenpair:source", "linenpair:nothing"],
                    ["port", "linenpair:nothing", "--input-shape", "1,17,17,3"]):
        assert main(command) == 2
        error = capsys.readouterr().err.strip().splitlines()
        assert len(error) == 1 and "a object is not a torch.nn.Module" in error[0] and "flax.linen" in error[0]
