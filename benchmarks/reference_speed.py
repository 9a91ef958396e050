"""Reference speed against its peers in float64.

Forward: an (8, 32, 64, 64) input with 32 3x3 filters, 'valid' and padding 1,
against torch.nn.functional.conv2d and JAX's own NumPy reference
(jax._src.lax_reference.conv_general_dilated; goal: no slower than it).
Transposed: an (8, 32, 32, 32) input, 32 output channels, 3x3, stride 2,
padding 1, output_padding 1, against F.conv_transpose2d (goal 1.0, at most
1.5). Prints the median times and each ratio reference / peer, the runs in
alternating blocks.
"""

import statistics
import time

import numpy as np
import torch

from harness import ConvSpec, reference

try:
    from jax._src import lax_reference
except ImportError:  # JAX not installed: its column is left out
    lax_reference = None


def median_seconds(functions, rounds=5, block=5):
    """Median time of each function over ``rounds`` alternating blocks of ``block`` runs: load
    hits all alike. Each block starts after a pause and a run that is not counted, as the
    other library's BLAS or OpenMP threads spin on for a while after its calls."""
    times = [[] for _ in functions]
    for _ in range(rounds):
        for fn, spent in zip(functions, times):
            time.sleep(0.3)
            fn()
            for _ in range(block):
                start = time.perf_counter()
                fn()
                spent.append(time.perf_counter() - start)
    return [statistics.median(spent) for spent in times]


def report(spec, peers, x, w):
    names = ["reference", *peers]
    times = median_seconds([lambda: reference(spec, x, w), *peers.values()])
    print(spec.describe())
    for name, seconds in zip(names, times):
        print(f"  {name:<28} {seconds * 1e3:8.1f} ms")
    for name, seconds in zip(names[1:], times[1:]):
        print(f"  ratio reference / {name:<17} {times[0] / seconds:.2f}")


def main():
    rng = np.random.default_rng(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; numpy {np.__version__}\n")
    for padding, pairs in (("valid", [(0, 0), (0, 0)]), (1, [(1, 1), (1, 1)])):
        spec = ConvSpec(layout="NCHW", batch=8, in_channels=32, out_channels=32, spatial=64, kernel=3,
                        padding=padding, dtype="float64")
        x, w = rng.standard_normal(spec.input_shape), rng.standard_normal(spec.weight_shape)
        tx, tw = torch.from_numpy(x), torch.from_numpy(w)
        peers = {"F.conv2d": lambda: torch.nn.functional.conv2d(tx, tw, padding=padding)}
        if lax_reference is not None:
            peers["jax lax_reference (goal 1.0)"] = lambda: lax_reference.conv_general_dilated(
                x, w, (1, 1), pairs, (1, 1), (1, 1), ("NCHW", "OIHW", "NCHW"))
        report(spec, peers, x, w)
    spec = ConvSpec(layout="NCHW", batch=8, in_channels=32, out_channels=32, spatial=32, kernel=3, stride=2,
                    padding=1, output_padding=1, transposed=True, dtype="float64")
    x, w = rng.standard_normal(spec.input_shape), rng.standard_normal(spec.weight_shape)
    tx, tw = torch.from_numpy(x), torch.from_numpy(w)
    report(spec, {"F.conv_transpose2d (goal 1.0)": lambda: torch.nn.functional.conv_transpose2d(
        tx, tw, stride=2, padding=1, output_padding=1)}, x, w)


if __name__ == "__main__":
    main()
