"""On a machine with a CUDA device: what each backend computes there, and how fast.

Prints, per backend, dtype and precision mode (the framework's default, and
forced to float32 as ``name[float32]``): the cases, how many pass, the worst
error/bound, and for the default mode the precision it ran at ("tf32"); then
the sweep's cases/s on the GPU against the same sweep on the CPU cores, for
each number of jobs (what the default --jobs on a GPU should be).
Without a CUDA device it says so and exits 0 (nothing to measure).

    python benchmarks/gpu_check.py [--examples 200] [--backends torch,jax] [--device cuda:0] [--jobs 1,2,4]

A TensorFlow with a GPU joins with --backends torch,jax,tensorflow.
"""

import argparse
import collections
import subprocess
import sys

SWEEP = """
from harness.sweep import generate_cases, run_sweep
summary = run_sweep(list(enumerate(generate_cases({examples}, {seed}))), backends={backends!r}, jobs={jobs},
                    progress=False, device={device!r})
print(f"{{summary.cases}} cases in {{summary.seconds:.2f}} s")
"""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--backends", default="torch,jax")
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--jobs", default="1,2,4", help="the sweep's job counts to measure, comma-separated")
    args = parser.parse_args()

    from harness import check
    from harness.devices import Device, cuda_count, describe, share_gpu
    from harness.sweep import generate_cases

    device = Device.parse(args.device)
    found = cuda_count()
    if device.accelerator and device.index >= found:  # (--device cpu runs it all on the CPU: a dry run)
        print(f"no CUDA device {device} here (PyTorch and JAX see {found}): nothing to measure")
        return 0
    share_gpu()
    backends = tuple(args.backends.split(","))
    print(f"{device}: {describe(device)}")
    rows = collections.defaultdict(lambda: {"cases": 0, "pass": 0, "worst": 0.0, "precision": set()})
    for spec, seed in generate_cases(args.examples, args.seed):
        for outcome in check(spec, seed, backends, device=device).outcomes:
            if outcome.status == "unsupported":
                continue
            row = rows[(outcome.backend, spec.dtype)]
            row["cases"] += 1
            row["pass"] += outcome.status == "pass"
            row["worst"] = max(row["worst"], outcome.ratio or 0.0)
            row["precision"].add(outcome.precision or spec.dtype)
    print(f"{'backend':<18} {'dtype':<9} {'ran as':<9} {'cases':>6} {'pass':>6} {'worst err/bound':>16}")
    for (backend, dtype), row in sorted(rows.items()):
        print(f"{backend:<18} {dtype:<9} {','.join(sorted(row['precision'])):<9} {row['cases']:>6} "
              f"{row['pass']:>6} {row['worst']:>16.3g}")
    for jobs in map(int, args.jobs.split(",")):
        seconds = {}
        for where in (str(device), "cpu"):
            code = SWEEP.format(examples=args.examples, seed=args.seed, backends=backends, jobs=jobs, device=where)
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
            seconds[where] = float(out.split("cases in ")[1].split(" s")[0])
        gpu, cpu = seconds[str(device)], seconds["cpu"]
        print(f"sweep, {args.examples} cases, --jobs {jobs}: {device} {args.examples / gpu:.1f} cases/s "
              f"({gpu:.1f} s, both precision modes), cpu {args.examples / cpu:.1f} cases/s ({cpu:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
