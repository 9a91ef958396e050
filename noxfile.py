"""nox sessions for convharness. `nox -l` lists them.

`tests` runs the suite on the pinned versions; `sweep` runs the same seeded
cases under each framework-version environment of MATRIX and writes records
to reports/records/<session>.jsonl; `report` merges them into one page.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True

CONSTRAINTS = ("-c", "constraints.txt")
RECORDS = Path("reports/records")
SEED = "0"

# Each backend is checked against the NumPy reference, so frameworks need not
# be crossed: each row pairs one TensorFlow with one JAX release and covers
# both once. torch 2.13.0 is the only CPU build at hand; add a column value
# here to cover more torch releases.
MATRIX = {
    # id:              tensorflow-cpu, jax/jaxlib, torch, keras, flax ("": flax 0.12.8 does not install beside that
    #                  JAX), onnx (1.23 needs a protobuf that TensorFlow before 2.20 refuses), onnxruntime
    "tf2.18-jax0.4": ("2.18.1", "0.4.38", "2.13.0", "3.10.0", "", "1.19.1", "1.20.1"),
    "tf2.19-jax0.6": ("2.19.1", "0.6.2", "2.13.0", "3.10.0", "", "1.19.1", "1.23.2"),
    "tf2.20-jax0.8": ("2.20.0", "0.8.3", "2.13.0", "3.15.1", "", "1.23.2", "1.27.0"),
    "tf2.21-jax0.10": ("2.21.0", "0.10.2", "2.13.0", "3.15.1", "0.12.8", "1.23.2", "1.31.1"),
}
BACKENDS = "numpy,torch,torch.nn,tensorflow,jax,keras.tensorflow,keras.jax,keras.torch,onnxruntime"  # and flax


@nox.session(python="3.11")
def tests(session: nox.Session) -> None:
    """The pytest suite on the pinned framework versions (constraints.txt)."""
    session.install("-e", ".[all,test,docs]", *CONSTRAINTS)
    session.run("pytest", *session.posargs)


@nox.session(python="3.11")
@nox.parametrize("env", [nox.param(name, id=name) for name in MATRIX])
def sweep(session: nox.Session, env: str) -> None:
    """The seeded sweep under one framework-version environment; records per session."""
    tensorflow, jax, torch, keras, flax, onnx, onnxruntime = MATRIX[env]
    session.install(
        "-e", ".", f"torch=={torch}", f"tensorflow-cpu=={tensorflow}", f"jax=={jax}", f"jaxlib=={jax}",
        f"keras=={keras}", *([f"flax=={flax}"] if flax else []), f"onnx=={onnx}", f"onnxruntime=={onnxruntime}",
    )
    RECORDS.mkdir(parents=True, exist_ok=True)
    args = ["--backends", BACKENDS + (",flax" if flax else ""), "--declared-crashes",
            *(session.posargs or ["--examples", "300"])]
    shard = args[args.index("--shard") + 1].replace("/", "-of-") if "--shard" in args else ""
    records = RECORDS / (f"{env}-shard-{shard}.jsonl" if shard else f"{env}.jsonl")
    records.unlink(missing_ok=True)
    cache = os.environ.get("CONVHARNESS_JAX_CACHE", str(Path.home() / ".cache" / "convharness" / "jax"))
    session.run(
        "convharness", "sweep", "--seed", SEED, "--records", str(records), "--jobs", "2", "--quiet", *args,
        env={"CONVHARNESS_JAX_CACHE": cache},
        success_codes=[0, 1],  # 1: mismatches found, which is what the records are for
    )


@nox.session(python="3.11")
def report(session: nox.Session) -> None:
    """Merge every sweep's records into reports/index.html (missing sessions are fine)."""
    session.install("-e", ".")
    paths = sorted(str(p) for p in RECORDS.glob("*.jsonl"))
    if not paths:
        session.error(f"no records in {RECORDS}/: run `nox -s sweep` first")
    session.run("convharness", "report", *paths, "-o", "reports/index.html")
