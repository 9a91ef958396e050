"""Time `compare` on a PyTorch network of 20 conv layers at 224x224 (ResNet-18's
convolutions) against its Keras port (written here, weights copied), on this
machine's cores; prints the total (goal: within 30 s on 2 cores) and where the
time goes.

    python benchmarks/compare_speed.py
"""

import time

import numpy as np
import torch

from harness.porting.model_comparison import compare_models

class Block(torch.nn.Module):
    """A ResNet basic block without normalisation: two 3x3 convs and the skip (a strided 1x1 conv when it shrinks)."""

    def __init__(self, channels_in, channels, stride):
        super().__init__()
        self.a = torch.nn.Conv2d(channels_in, channels, 3, stride=stride, padding=1)
        self.b = torch.nn.Conv2d(channels, channels, 3, padding=1)
        self.down = torch.nn.Conv2d(channels_in, channels, 1, stride=stride) if stride > 1 else None

    def forward(self, x):
        skip = x if self.down is None else self.down(x)
        return torch.relu(self.b(torch.relu(self.a(x))) + skip)


class Net(torch.nn.Module):
    """ResNet-18's 20 convolutions (no normalisation) at 224x224: 1.8 G multiply-adds."""

    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 64, 7, stride=2, padding=3)
        widths = [(64, 64, 1), (64, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1),
                  (256, 512, 2), (512, 512, 1)]
        self.blocks = torch.nn.ModuleList(Block(i, o, s) for i, o, s in widths)

    def forward(self, x):
        x = torch.nn.functional.max_pool2d(torch.relu(self.stem(x)), 3, 2, 1)
        for block in self.blocks:
            x = block(x)
        return x


def keras_port(model):
    """The same network in Keras, channels-last; PyTorch's padding at stride 2 as ZeroPadding2D then 'valid'."""
    import keras

    def conv(x, torch_conv):
        k, s = torch_conv.kernel_size[0], torch_conv.stride[0]
        if s > 1 and k > 1:
            x = keras.layers.ZeroPadding2D(k // 2)(x)
        layer = keras.layers.Conv2D(torch_conv.out_channels, k, strides=s, padding="same" if s == 1 else "valid")
        y = layer(x)
        layer.set_weights([torch_conv.weight.detach().numpy().transpose(2, 3, 1, 0), torch_conv.bias.detach().numpy()])
        return y

    inputs = keras.Input((224, 224, 3))
    x = keras.layers.ReLU()(conv(inputs, model.stem))
    x = keras.layers.MaxPooling2D(3, 2)(keras.layers.ZeroPadding2D(1)(x))  # after ReLU, zeros pad like -inf
    for block in model.blocks:
        skip = x if block.down is None else conv(x, block.down)
        y = conv(keras.layers.ReLU()(conv(x, block.a)), block.b)
        x = keras.layers.ReLU()(keras.layers.Add()([y, skip]))
    return keras.Model(inputs, x)


def main():
    torch.manual_seed(0)
    model = Net()
    port = keras_port(model)
    example = torch.from_numpy(np.random.default_rng(0).uniform(-1, 1, (1, 3, 224, 224)).astype(np.float32))
    timings = {}
    start = time.perf_counter()
    result = compare_models(model, port, example, timings=timings)
    total = time.perf_counter() - start
    print_timings(result, total, timings, f"torch {torch.__version__}, {torch.get_num_threads()} threads")


def print_timings(result, total: float, timings: dict, versions: str, before: str = "") -> None:
    """The pairs' verdicts, the total against the goal and where the time went."""
    verdicts = {p.verdict for p in result.pairs}
    print(f"{len(result.pairs)} pairs ({', '.join(sorted(verdicts))}), {versions}")
    if before:
        print(before)
    print(f"compare: {total:.1f} s (goal: within 30 s on 2 cores)")
    for step, seconds in timings.items():
        print(f"  {step:<14} {seconds:6.2f} s  {seconds / total:5.1%}")


if __name__ == "__main__":
    main()
