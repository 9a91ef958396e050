"""Reference speed against torch.nn.functional.conv2d in float64, measured in one run.

An (8, 32, 64, 64) float64 input with 32 3x3 filters; prints the median times
and the ratio reference / torch (the goal is at most 1.5).
"""

import statistics
import time

import numpy as np
import torch

from harness import ConvSpec, reference


def median_seconds(fn, repeats=7):
    fn()  # warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    spec = ConvSpec(layout="NCHW", batch=8, in_channels=32, out_channels=32, spatial=64, kernel=3,
                    padding="same", dtype="float64")
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(spec.input_shape), rng.standard_normal(spec.weight_shape)
    tx, tw = torch.from_numpy(x), torch.from_numpy(w)
    ours = median_seconds(lambda: reference(spec, x, w))
    theirs = median_seconds(lambda: torch.nn.functional.conv2d(tx, tw, padding="same"))
    print(f"{spec.describe()}")
    print(f"reference      {ours * 1e3:8.1f} ms")
    print(f"torch float64  {theirs * 1e3:8.1f} ms  (torch {torch.__version__}, {torch.get_num_threads()} threads)")
    print(f"ratio reference/torch = {ours / theirs:.2f}  (goal <= 1.5)")


if __name__ == "__main__":
    main()
