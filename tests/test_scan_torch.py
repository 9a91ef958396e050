"""Model scans of small PyTorch models: every convolution passes in every backend,
the model's own layer output equals the reference, and `port` feeds the report."""

from __future__ import annotations

import json
import textwrap

import pytest

from harness.cli import main
from harness.porting import check_model, scan
from helpers import FRAMEWORK_BACKENDS, IMPORTS_TENSORFLOW, assert_every_layer_agrees, imported

pytestmark = IMPORTS_TENSORFLOW

torch = imported("torch")


class CausalStack(torch.nn.Module):
    """WaveNet-style dilated causal 1-D convolutions: left padding, then a conv."""

    def __init__(self):
        super().__init__()
        self.convs = torch.nn.ModuleList(torch.nn.Conv1d(4 if i else 2, 4, 2, dilation=2 ** i) for i in range(4))

    def forward(self, x):
        for conv in self.convs:
            x = torch.relu(conv(torch.nn.functional.pad(x, ((2 - 1) * conv.dilation[0], 0))))
        return x


class GroupedBlock(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.expand = torch.nn.Conv2d(4, 12, 1)
        self.depthwise = torch.nn.Conv2d(12, 24, 3, stride=2, padding=1, groups=12, bias=False)
        self.grouped = torch.nn.Conv2d(24, 8, (1, 3), padding="same", groups=4)

    def forward(self, x):
        return self.grouped(self.depthwise(self.expand(x)))


class Block3d(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Conv3d(2, 4, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
        self.b = torch.nn.Conv3d(4, 4, 3, padding="same", dilation=(1, 2, 2))
        self.reflect = torch.nn.Conv3d(4, 4, 3, padding=1, padding_mode="reflect")

    def forward(self, x):
        return self.reflect(self.b(self.a(x)))


class UNet(torch.nn.Module):
    """A small U-Net: reflect-padded convs, a strided conv down, transposed convs up
    (kernel 2 stride 2, and kernel 3 stride 2 padding 1 output_padding 1), a skip
    connection, replicate and circular padded convs: every backend runs every layer."""

    def __init__(self):
        super().__init__()
        self.enc1 = torch.nn.Conv2d(3, 8, 3, padding=1, padding_mode="reflect")
        self.down = torch.nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.enc2 = torch.nn.Conv2d(16, 16, 3, padding=1, padding_mode="replicate")
        self.bottom = torch.nn.Conv2d(16, 16, 3, stride=2, padding=1, padding_mode="circular")
        self.up1 = torch.nn.ConvTranspose2d(16, 16, 3, stride=2, padding=1, output_padding=1)
        self.up2 = torch.nn.ConvTranspose2d(32, 8, 2, stride=2)
        self.dec = torch.nn.Conv2d(16, 4, 3, padding="same", padding_mode="reflect")

    def forward(self, x):
        e1 = torch.relu(self.enc1(x))
        e2 = torch.relu(self.enc2(self.down(e1)))
        u1 = torch.relu(self.up1(self.bottom(e2)))
        u2 = torch.relu(self.up2(torch.cat([u1, e2], dim=1)))
        return self.dec(torch.cat([u2, e1], dim=1))


class AudioUpsampler(torch.nn.Module):
    """1-D and 3-D transposed convs, each called with output_size, which sets its output padding; dilated, grouped."""

    def __init__(self):
        super().__init__()
        self.up = torch.nn.ConvTranspose1d(2, 4, 5, stride=3, padding=2, dilation=2, groups=2)
        self.up3d = torch.nn.ConvTranspose3d(4, 2, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))

    def forward(self, x):
        y = self.up(x, output_size=[15])  # 14 without output padding
        return self.up3d(y[..., :12].reshape(1, 4, 1, 2, 6), output_size=[1, 4, 12])  # (1, 3, 11) without


@pytest.mark.parametrize(
    "model,example",
    [(CausalStack, (2, 2, 30)), (GroupedBlock, (1, 4, 9, 10)), (Block3d, (1, 2, 4, 9, 9)), (UNet, (2, 3, 16, 12)),
     (AudioUpsampler, (1, 2, 4))],
    ids=["causal-stack", "grouped-block", "block3d", "unet", "audio-upsampler"],
)
def test_every_conv_of_a_torch_model_agrees_in_every_backend(model, example):
    torch.manual_seed(0)
    scanned = scan(model(), torch.randn(*example))
    checked = [r for r in check_model(scanned) if r.result is not None]
    assert_every_layer_agrees(checked, "torch model")
    assert all(r.layer.output is not None for r in checked)


def test_padding_modes_and_transposed_convs_become_specs():
    scanned = scan(UNet(), torch.randn(1, 3, 16, 12))
    layers = {layer.name: layer for layer in scanned.layers}
    assert list(layers) == ["enc1", "down", "enc2", "bottom", "up1", "up2", "dec"]
    assert [layers[n].spec.padding_mode for n in ("enc1", "enc2", "bottom")] == ["reflect", "replicate", "circular"]
    up1 = layers["up1"].spec
    assert up1.transposed and up1.output_padding == (1, 1) and up1.output_spatial == (8, 6)
    assert layers["up2"].w.shape == (32, 8, 2, 2)  # PyTorch's (in, out/groups, *k), the neutral transposed order


def test_every_layer_of_the_unet_passes_in_every_backend():
    torch.manual_seed(1)
    results = check_model(scan(UNet(), torch.randn(1, 3, 16, 12)))
    assert {o.backend for r in results for o in r.result.outcomes} == {"torch model", "numpy", *FRAMEWORK_BACKENDS}
    assert {o.status for r in results for o in r.result.outcomes} == {"pass"}


def test_output_size_sets_the_output_padding_of_the_spec():
    scanned = scan(AudioUpsampler(), torch.randn(1, 2, 4))
    up = scanned.layers[0].spec
    assert up.output_padding == (1,) and up.output_spatial == (15,)  # (4-1)*3 + (5-1)*2 + 1 - 2*2 = 14, plus 1
    assert scanned.layers[1].spec.output_padding == (0, 1, 1)


def test_port_command_prints_a_row_per_layer_and_feeds_the_report(tmp_path, capsys, monkeypatch):
    (tmp_path / "mymodels.py").write_text(textwrap.dedent("""
        import torch

        def build():
            model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, stride=2, padding=1), torch.nn.ReLU(),
                                        torch.nn.Conv2d(4, 4, 2, padding="same", groups=2))
            return model, torch.ones(1, 3, 8, 8)
    """))
    monkeypatch.chdir(tmp_path)
    records = tmp_path / "port.jsonl"
    backends = ",".join(("numpy", *FRAMEWORK_BACKENDS))
    assert main(["port", "mymodels:build", "--records", str(records), "--backends", backends, "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "Sequential: 2 convolutions" in out and "2 layers: 2 agree" in out
    rows = [json.loads(line) for line in records.read_text().splitlines()]
    assert {r["layer"] for r in rows} == {"0", "2"} and {r["model"] for r in rows} == {"Sequential"}  # the JSON
    assert main(["report", str(records), "-o", str(tmp_path / "index.html")]) == 0
    page = (tmp_path / "index.html").read_text()
    assert 'id="models"' in page and "torch.nn.Conv2d" in page


def test_port_target_errors_are_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["port", "nomodule"]) == 2
    assert main(["port", "nomodule_here:build"]) == 2
    assert main(["port", "x.py:build", "--input-shape", "1,a"]) == 2
    for line in capsys.readouterr().err.strip().splitlines():
        assert line.startswith("convharness port: error: ")
