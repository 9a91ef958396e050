"""Port scan speed: every conv layer of a keras.applications model at 224x224
checked in every backend; prints the wall time and the share spent compiling
JAX programs (JAX's own monitoring events), cold (no persistent cache) and
warm (the cache filled by the cold run).

    python benchmarks/port_scan.py [--model MobileNetV2] [--size 224]

Goal: a model of about 50 conv layers at 224x224 scans within 60 s on 2 cores.
"""

import argparse
import os
import subprocess
import sys
import tempfile

RUN = """
import time
t0 = time.perf_counter()
import jax, jax.monitoring, keras
from harness.porting import scan, check_model
compile_seconds = []
jax.monitoring.register_event_duration_secs_listener(
    lambda event, seconds, **kw: compile_seconds.append(seconds) if event.startswith("/jax/core/compile") else None)
model = getattr(keras.applications, {model!r})(weights=None, input_shape=({size}, {size}, 3))
t1 = time.perf_counter()
scanned = scan(model)
t2 = time.perf_counter()
results = check_model(scanned)
t3 = time.perf_counter()
bad = [r.layer.name for r in results if not r.ok]
print(f"{{len(scanned.layers)}} conv layers; import+build {{t1 - t0:.1f}} s, scan {{t2 - t1:.1f}} s, "
      f"check {{t3 - t2:.1f}} s, total {{t3 - t0:.1f}} s; JAX compilation {{sum(compile_seconds):.1f}} s "
      f"({{100 * sum(compile_seconds) / (t3 - t2):.0f}}% of the check); disagreeing: {{bad or 'none'}}")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="MobileNetV2")
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args()
    code = RUN.format(model=args.model, size=args.size)
    with tempfile.TemporaryDirectory() as cache:
        for label, folder in (("cold (empty JAX cache)", cache), ("warm (cache from the cold run)", cache)):
            env = {**os.environ, "CONVHARNESS_JAX_CACHE": folder, "TF_CPP_MIN_LOG_LEVEL": "3"}
            out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
            print(f"{args.model} {args.size}x{args.size}, {label}: {out.stdout.strip()}")


if __name__ == "__main__":
    main()
