"""Example targets for `convharness port` (see docs/porting.md)."""

import argparse
from pathlib import Path

import numpy as np


def keras_mobilenet():
    """keras.applications.MobileNetV2, untrained (nothing is downloaded), at 224x224."""
    import keras

    return keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3))


def torch_audio_block():
    """A small PyTorch model: dilated causal 1-D stack, then a grouped 2-D conv."""
    import torch

    class AudioBlock(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.causal = torch.nn.ModuleList(torch.nn.Conv1d(8, 8, 2, dilation=2 ** i) for i in range(3))
            self.mix = torch.nn.Conv2d(8, 16, 3, stride=2, padding=1, groups=4)

        def forward(self, x):
            for conv in self.causal:
                x = torch.relu(conv(torch.nn.functional.pad(x, (conv.dilation[0], 0))))
            return self.mix(x[:, :, None, :].expand(-1, -1, 4, -1))

    return AudioBlock(), torch.randn(1, 8, 64)


def flax_decoder():
    """A small Flax NNX model (channels-last): a reflect-padded conv, a strided one, and a
    ConvTranspose back up with its kernel transposed as PyTorch's is."""
    from flax import nnx

    class Decoder(nnx.Module):
        def __init__(self, rngs):
            self.smooth = nnx.Conv(3, 8, (3, 3), padding="REFLECT", rngs=rngs)
            self.down = nnx.Conv(8, 16, (3, 3), strides=2, padding=((1, 1), (1, 1)), rngs=rngs)
            self.up = nnx.ConvTranspose(16, 8, (3, 3), strides=(2, 2), padding=((1, 2), (1, 2)),
                                        transpose_kernel=True, rngs=rngs)

        def __call__(self, x):
            return self.up(nnx.relu(self.down(nnx.relu(self.smooth(x)))))

    return Decoder(nnx.Rngs(0)), np.random.default_rng(0).uniform(-1, 1, (1, 16, 16, 3)).astype(np.float32)


def mistaken_port(folder: str = "reports/diagnose") -> tuple[Path, Path]:
    """Write inputs.npz and observed.npy of a hand port of TF 'SAME' (kernel 3,
    stride 3, input 9x9) that used PyTorch-style padding=1 instead; return their paths."""
    import torch

    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (1, 3, 9, 9)).astype(np.float32)
    w = rng.uniform(-1, 1, (4, 3, 3, 3)).astype(np.float32)
    b = rng.uniform(-1, 1, (4,)).astype(np.float32)
    y = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), stride=3, padding=1)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    np.savez(out / "inputs.npz", x=x, w=w, b=b)
    np.save(out / "observed.npy", y.numpy())
    return out / "inputs.npz", out / "observed.npy"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Write the inputs and output of a port with a mistake, "
                                                 "for `convharness diagnose`.")
    parser.add_argument("--folder", default="reports/diagnose",
                        help="where to write inputs.npz and observed.npy (default reports/diagnose, "
                             "which git ignores)")
    inputs, observed = mistaken_port(parser.parse_args().folder)
    print(f"wrote {inputs} (x, w, b) and {observed} (the port's output)")
    print(f"next: convharness diagnose examples/specs/mistaken-port.json --inputs {inputs} --observed {observed}")
