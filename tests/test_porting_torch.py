"""Model scans of small PyTorch models: every convolution passes in every backend,
the model's own layer output equals the reference, and `port` feeds the report."""

from __future__ import annotations

import json
import textwrap

import pytest

from harness.cli import main
from harness.porting import check_model, scan
from helpers import FRAMEWORK_BACKENDS, IMPORTS_TENSORFLOW, assert_every_layer_agrees

pytestmark = IMPORTS_TENSORFLOW

torch = pytest.importorskip("torch")


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


@pytest.mark.parametrize(
    "model,example",
    [(CausalStack, (2, 2, 30)), (GroupedBlock, (1, 4, 9, 10)), (Block3d, (1, 2, 4, 9, 9))],
    ids=["causal-stack", "grouped-block", "block3d"],
)
def test_every_conv_of_a_torch_model_agrees_in_every_backend(model, example):
    torch.manual_seed(0)
    scanned = scan(model(), torch.randn(*example))
    checked = [r for r in check_model(scanned) if r.result is not None]
    assert_every_layer_agrees(checked, "torch model")
    assert all(r.layer.output is not None for r in checked)


def test_a_non_zero_padding_mode_is_reported_not_skipped():
    scanned = scan(Block3d(), torch.randn(1, 2, 4, 9, 9))
    (reflect,) = [layer for layer in scanned.layers if layer.name == "reflect"]
    assert reflect.spec is None and "padding_mode='reflect'" in reflect.unsupported
    assert [layer.name for layer in scanned.layers] == ["a", "b", "reflect"]


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
