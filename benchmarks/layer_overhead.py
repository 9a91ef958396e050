"""Layer backends' overhead: each layer backend's cost per case in a sweep
against a bare loop, in one process, that builds the same layer, sets its
weights and calls it (the call value's own code, compiled before the clock
starts; Flax's body jitted as the backend jits it), with no reference,
bound, comparison, records or worker around it. The backend's cost is a
sweep of numpy and the backend minus a sweep of numpy alone on the same
cases: what the backend adds (its call, the worker's round trip, its
comparison, rendered call and record), not the reference or the case
generation every sweep pays once. All three run in fresh processes on one
warm JAX cache (an uncounted round first), alternating, the ratio taken
round by round; goal: at most 1.10 for each backend. 300 examples by default:
keras.torch's layer takes about 0.6 ms a case, so at 100 its cost (two sweeps
of about 0.1 s subtracted) moved by half the bare loop from round to round.

    python benchmarks/layer_overhead.py [--examples 300] [--backends keras.tensorflow,keras.jax,keras.torch,flax]
        [--repeat 3]

TensorFlow's kernels differ with oneDNN: run it under TF_ENABLE_ONEDNN_OPTS=0 and =1.
"""

import argparse
import os
import statistics
import tempfile

from sweep_speed import seconds, spread  # (this script's folder is on the path)

SWEPT = """
from harness.sweep import generate_cases, run_sweep
cases = list(enumerate(generate_cases({examples}, {seed})))
summary = run_sweep(cases, backends={backends!r}, records={records!r}, jobs=1, progress=False)
print(f"{{summary.cases}} cases in {{summary.seconds:.3f}} s")
"""

# The layer's steps as a user writes them: from NumPy x, w, b to NumPy y. Keras runs under
# KERAS_BACKEND (set in this process's environment), Keras on JAX with the settings its worker
# uses (x64 and the persistent cache: the call's imports and CONVHARNESS_JAX_CACHE).
BARE = """
import gc, os, time
import numpy as np
from harness.backends import get_backend
from harness.inputs import make_inputs
from harness.sweep import generate_cases
adapter = get_backend({backend!r})
jitted = {backend!r} == "flax"  # the flax backend runs its body jitted, one program per case
prepared, imports = [], set()
for spec, seed in generate_cases({examples}, {seed}):
    try:
        call = adapter.plan(spec).rendered()
    except Exception:
        continue  # no call for this spec: the sweep makes none either
    imports.update(line for line in call.imports if "KERAS_BACKEND" not in line)
    if jitted:
        body = "\\n".join("    " + line for line in call.body)
        code = "\\n".join((*call.inputs, f"def body(x, w, b):\\n{{body}}\\n    return y", "y = jax.jit(body)(x, w, b)",
                          *call.outputs))
    else:
        code = "\\n".join((*call.inputs, *call.body, *call.outputs))
    prepared.append((make_inputs(spec, seed), compile(code, "<call>", "exec")))
namespace = {{}}
exec("\\n".join(sorted(imports, key=lambda line: not line.startswith("import "))), namespace)
folder = os.environ.get("CONVHARNESS_JAX_CACHE")
if "jax" in namespace and folder:
    jax = namespace["jax"]
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
gc.freeze()  # as the sweep and the Keras workers do: the loaded frameworks' objects out of the collector's passes
start = time.perf_counter()
for (x, w, b), code in prepared:
    try:
        exec(code, {{**namespace, "x": x, "w": w, "b": b}})
    except Exception:
        pass  # a refusal costs the same call in the sweep
print(f"{{len(prepared)}} cases in {{time.perf_counter() - start:.3f}} s")
"""

KERAS_BACKEND = {"keras.tensorflow": "tensorflow", "keras.jax": "jax", "keras.torch": "torch"}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=300)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--backends", default="keras.tensorflow,keras.jax,keras.torch,flax")
    parser.add_argument("--repeat", type=int, default=3, help="pairs of runs, alternating (median)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "CONVHARNESS_JAX_CACHE": os.path.join(tmp, "jax-cache"), "TF_CPP_MIN_LOG_LEVEL": "2"}
        for backend in args.backends.split(","):
            fill = dict(examples=args.examples, seed=args.seed, backend=backend)
            bare_env = {**env, "KERAS_BACKEND": KERAS_BACKEND.get(backend, "")}
            runs = {"with": [], "without": [], "bare": []}
            for run in range(args.repeat + 1):  # the first round fills the cache and is not counted
                records = os.path.join(tmp, "r.jsonl")
                measured = {"with": seconds(SWEPT.format(**fill, backends=("numpy", backend), records=records), env),
                            "without": seconds(SWEPT.format(**fill, backends=("numpy",), records=records), env),
                            "bare": seconds(BARE.format(**fill), bare_env)}
                if run:
                    for name, value in measured.items():
                        runs[name].append(value)
            cost = [a - b for a, b in zip(runs["with"], runs["without"])]
            ratios = [c / b for c, b in zip(cost, runs["bare"])]
            per_case = [1000 * statistics.median(values) / args.examples for values in (cost, runs["bare"])]
            print(f"{backend}: its cost in the sweep {per_case[0]:.2f} ms a case, bare loop {per_case[1]:.2f} ms; "
                  f"cost/bare round by round {spread(ratios, '.3f')} (min/median/max; goal <= 1.10)", flush=True)


if __name__ == "__main__":
    main()
