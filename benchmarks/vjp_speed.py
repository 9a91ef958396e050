"""Speed of the float64 backward-pass reference (harness.reference_vjp) against PyTorch's
float64 autograd of the same conv: an (8, 32, 64, 64) input, 32 3x3 filters with a
bias, padding 1 (goal: at most 1.5x). PyTorch's time is its backward alone
(``torch.autograd.grad`` on a graph built once, kept with ``retain_graph``), as
reference_vjp computes no forward pass; its forward and backward together are printed
beside. Runs alternate in blocks (reference_speed.median_seconds, one round at a time);
prints each round's ratio reference / torch and their min/median/max.
"""

import argparse
import statistics

import numpy as np
import torch

from harness import ConvSpec, reference_vjp
from reference_speed import median_seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    parser.add_argument("--block", type=int, default=3, help="timed runs of each per round (default 3)")
    args = parser.parse_args()
    spec = ConvSpec(layout="NCHW", batch=8, in_channels=32, out_channels=32, spatial=64, kernel=3, padding=1,
                    bias=True, dtype="float64")
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal(spec.input_shape), rng.standard_normal(spec.weight_shape), rng.standard_normal(32)
    dy = rng.standard_normal(spec.output_shape)
    tx, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
    tdy = torch.from_numpy(dy)
    y = torch.nn.functional.conv2d(tx, tw, tb, padding=1)

    def torch_backward():
        return torch.autograd.grad(y, (tx, tw, tb), tdy, retain_graph=True)

    def torch_forward_backward():
        return torch.autograd.grad(torch.nn.functional.conv2d(tx, tw, tb, padding=1), (tx, tw, tb), tdy)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; numpy {np.__version__}")
    print(spec.describe())
    ratios, rows = [], []
    for _ in range(args.rounds):
        times = median_seconds([lambda: reference_vjp(spec, x, w, b, dy), torch_backward, torch_forward_backward],
                               rounds=1, block=args.block)
        rows.append(times)
        ratios.append(times[0] / times[1])
        print("  reference_vjp {:7.1f} ms   torch backward {:7.1f} ms   torch forward+backward {:7.1f} ms   "
              "ratio {:.2f}".format(*(t * 1e3 for t in times), ratios[-1]))
    medians = [statistics.median(column) * 1e3 for column in zip(*rows)]
    print(f"ratio reference_vjp / torch backward (goal <= 1.5): min {min(ratios):.2f}, median "
          f"{statistics.median(ratios):.2f}, max {max(ratios):.2f}; medians {medians[0]:.1f} ms against "
          f"{medians[1]:.1f} ms (forward+backward {medians[2]:.1f} ms)")


if __name__ == "__main__":
    main()
