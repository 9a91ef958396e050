"""Sweep speed: harness overhead, the JAX persistent cache, and parallel jobs.

Each measurement runs in fresh processes and prints a ratio:
  overhead  the sweep's time against a bare loop making the same framework
            calls (each adapter's call value run as the sweep runs it: the
            same jitted JAX programs from the same persistent cache, no
            reference, bound, comparison or records), both warm (the cache
            filled by an uncounted sweep first), runs alternating, the ratio
            taken pair by pair; goal: at most 1.05 for torch,tensorflow,jax
  cache     the same sweep twice over one empty JAX cache folder; goal >= 3x
  jobs      --jobs 2 against --jobs 1 on 2 cores; goal >= 1.6x
  pytest    pytest -n 2 against -n 0 (only with --pytest)

    python benchmarks/sweep_speed.py [--examples 200] [--backends ...] [--repeat 3] [--overhead-only]
    python benchmarks/sweep_speed.py --pytest [--profile ci] [--repeat 3]
    python benchmarks/sweep_speed.py --pytest-only [--profile ci] [--repeat 3]

TensorFlow's kernels differ with oneDNN: run it under TF_ENABLE_ONEDNN_OPTS=0 and =1.
"""

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

BARE = """
import gc, time
from harness.backends import get_backend
from harness.inputs import make_inputs
from harness.sweep import generate_cases
cases = generate_cases({examples}, {seed})
backends = {backends!r}
for name in backends:
    get_backend(name).load()  # as the sweep does before its clock starts
gc.freeze()  # as the sweep does: the loaded frameworks' objects out of the collector's passes
start = time.perf_counter()
for spec, seed in cases:
    x, w, b = make_inputs(spec, seed)
    for name in backends:
        adapter = get_backend(name)
        try:
            adapter.execute(adapter.plan(spec), x, w, b)  # the call value the sweep runs, and nothing around it
        except Exception:
            pass  # a refusal costs the same call in the sweep
print(f"{{len(cases)}} cases in {{time.perf_counter() - start:.2f}} s")
"""

SWEPT = """
import time
from harness.sweep import generate_cases, run_sweep
cases = list(enumerate(generate_cases({examples}, {seed})))
summary = run_sweep(cases, backends={backends!r}, records={records!r}, jobs={jobs}, progress=False)
print(f"{{summary.cases}} cases in {{summary.seconds:.2f}} s")
"""


def seconds(code: str, env: dict) -> float:
    """The seconds a script prints as "N cases in S s", run in a new process."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    return float(re.search(r"cases in ([\d.]+) s", out.stdout).group(1))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--backends", default="torch,tensorflow,jax")
    parser.add_argument("--overhead-only", action="store_true", help="measure only the sweep against the bare loop")
    parser.add_argument("--pytest", action="store_true")
    parser.add_argument("--pytest-only", action="store_true", help="measure only the test suite")
    parser.add_argument("--profile", default="ci", help="Hypothesis profile for --pytest (dev, ci, thorough)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each command, alternating (median)")
    args = parser.parse_args()
    if args.pytest_only:
        return measure_pytest(args.profile, args.repeat)
    backends = tuple(args.backends.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "CONVHARNESS_JAX_CACHE": os.path.join(tmp, "jax-cache"), "TF_CPP_MIN_LOG_LEVEL": "2"}
        fill = dict(examples=args.examples, seed=args.seed, backends=backends)
        records = os.path.join(tmp, "r.jsonl")
        measure_overhead(fill, records, env, args.repeat)
        if args.overhead_only:
            return

        cached = {**env, "CONVHARNESS_JAX_CACHE": os.path.join(tmp, "jax-cache-2")}
        first = seconds(SWEPT.format(**fill, records=None, jobs=1), cached)
        second = seconds(SWEPT.format(**fill, records=None, jobs=1), cached)
        print(f"cache: first sweep {first:.2f} s, repeated {second:.2f} s, speed-up {first / second:.2f}x (goal >= 3)")

        one = seconds(SWEPT.format(**fill, records=None, jobs=1), cached)
        two = seconds(SWEPT.format(**fill, records=None, jobs=2), cached)
        print(f"jobs: --jobs 1 {one:.2f} s, --jobs 2 {two:.2f} s, speed-up {one / two:.2f}x (goal >= 1.6)")

    if args.pytest:
        measure_pytest(args.profile, args.repeat)


def measure_overhead(fill: dict, records: str, env: dict, repeat: int) -> None:
    """The sweep (records written) against the bare loop, warm, alternating; the ratio pair by pair."""
    seconds(SWEPT.format(**fill, records=None, jobs=1), env)  # fills the JAX cache: both runs below load from it
    bare, swept = [], []
    for _ in range(repeat):
        bare.append(seconds(BARE.format(**fill), env))
        swept.append(seconds(SWEPT.format(**fill, records=records, jobs=1), env))
    ratios = sorted(s / b for s, b in zip(swept, bare))
    print(f"overhead ({','.join(fill['backends'])}, {fill['examples']} cases, {repeat} pairs): "
          f"bare loop {spread(bare)} s, sweep {spread(swept)} s\n"
          f"  sweep/bare time pair by pair {spread(ratios, '.3f')} (min/median/max; goal <= 1.05)")


def spread(values: list, form: str = ".2f") -> str:
    return "/".join(format(v, form) for v in (min(values), statistics.median(values), max(values)))


def measure_pytest(profile: str, repeat: int) -> None:
    """Wall time of the whole test run as a user sees it (start-up, collection,
    exit included), -n 0 and -n 2 alternating so drifts in machine load hit both.

    Prints the speed-up of the medians and of the best runs (the least
    disturbed by other load on the machine, as timeit reports), each pair's
    ratio, and the cores each run kept busy on average (CPU time / wall time).
    """
    wall, cores = {"0": [], "2": []}, {"0": [], "2": []}
    env = {**os.environ, "HYPOTHESIS_PROFILE": profile}
    if profile == "ci":
        env["CI"] = "true"  # as on CI, where Hypothesis also derandomizes: every run draws the same cases
    for _ in range(repeat):
        for n in wall:
            cpu = _children_cpu()
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", n, "-p", "no:cacheprovider"],
                           capture_output=True, check=True, env=env)
            wall[n].append(time.perf_counter() - start)
            cores[n].append((_children_cpu() - cpu) / wall[n][-1])
    serial, parallel = statistics.median(wall["0"]), statistics.median(wall["2"])
    listed = {n: ", ".join(f"{w:.1f}" for w in ws) for n, ws in wall.items()}
    busy = {n: statistics.median(cs) for n, cs in cores.items()}
    pairs = ", ".join(f"{a / b:.2f}" for a, b in zip(wall["0"], wall["2"]))
    print(f"pytest ({profile} profile, {repeat} runs each): -n 0 {listed['0']} s, -n 2 {listed['2']} s\n"
          f"  speed-up of the medians {serial / parallel:.2f}x ({serial:.1f} s against {parallel:.1f} s), "
          f"of the best runs {min(wall['0']) / min(wall['2']):.2f}x, pairs {pairs} (goal >= 1.6)\n"
          f"  cores busy on average: -n 0 {busy['0']:.2f}, -n 2 {busy['2']:.2f}")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main()
