"""The cost of the gradients: `sweep --grad` against `sweep` on the same cases.

Each run is a fresh process (`python -m harness.cli sweep ... --quiet`); the time
compared is the one the sweep prints ("N cases in X s"), counted from when the
frameworks are loaded, so imports are left out of both. Runs alternate (plain,
grad, plain, grad, ...) and the ratio grad/plain is taken pair by pair, as
farm-bench does, so a machine whose speed drifts moves both sides of a pair.

    python benchmarks/grad_sweep_speed.py [--examples 30] [--backends torch,tensorflow,jax] [--repeat 3]
"""

import argparse
import re
import statistics
import subprocess
import sys

TIMED = re.compile(r"(\d+) cases in ([0-9.]+) s")


def sweep_seconds(examples: int, backends: str, seed: int, grad: bool) -> float:
    """The seconds one sweep reports for its cases."""
    command = [sys.executable, "-m", "harness.cli", "sweep", "--examples", str(examples), "--seed", str(seed),
               "--backends", backends, "--quiet", *(["--grad"] if grad else [])]
    run = subprocess.run(command, capture_output=True, text=True, timeout=3600)
    found = TIMED.search(run.stdout)
    if found is None:
        raise SystemExit(f"no timing in the sweep's output (exit {run.returncode}):\n{run.stdout}\n{run.stderr[-2000:]}")
    return float(found.group(2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=30)
    parser.add_argument("--backends", default="torch,tensorflow,jax")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    plain, grad = [], []
    for _ in range(args.repeat):
        plain.append(sweep_seconds(args.examples, args.backends, args.seed, False))
        grad.append(sweep_seconds(args.examples, args.backends, args.seed, True))
    ratios = [g / p for p, g in zip(plain, grad)]
    for name, values in (("sweep", plain), ("sweep --grad", grad), ("ratio", ratios)):
        print(f"{name:13} min {min(values):.2f}  median {statistics.median(values):.2f}  max {max(values):.2f}")
    print(f"{args.examples} cases, backends {args.backends}, {args.repeat} pairs")


if __name__ == "__main__":
    main()
