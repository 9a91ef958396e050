"""The CI workflow for the version matrix: valid YAML, a sound job graph, and
sessions that the noxfile really defines."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import SLOW

yaml = pytest.importorskip("yaml")
ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "matrix.yml"


def _noxfile():
    spec = importlib.util.spec_from_file_location("noxfile", ROOT / "noxfile.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


@pytest.fixture(scope="module")
def nox_sessions() -> set[str]:
    pytest.importorskip("nox", reason="nox comes with the test extra")
    out = subprocess.run([sys.executable, "-m", "nox", "-l"], cwd=ROOT, capture_output=True, text=True, check=True)
    return {line[2:].split(" -> ")[0].strip() for line in out.stdout.splitlines() if line[:2] in ("* ", "- ")}


def test_workflow_job_graph_is_acyclic_and_ends_in_the_report(workflow):
    jobs = workflow["jobs"]
    assert workflow.get("on", workflow.get(True))  # PyYAML reads the key `on` as True
    needs = {name: set([job["needs"]] if isinstance(job.get("needs"), str) else job.get("needs", []))
             for name, job in jobs.items()}
    for name, wanted in needs.items():
        assert wanted <= jobs.keys(), f"{name} needs unknown jobs {wanted - jobs.keys()}"
    done: list[str] = []
    while len(done) < len(jobs):  # a topological order exists only without cycles
        ready = [n for n in jobs if n not in done and needs[n] <= set(done)]
        assert ready, f"cycle among {set(jobs) - set(done)}"
        done += ready
    assert "sweep" in needs["report"] and jobs["report"].get("if") == "always()"
    for name, job in jobs.items():
        assert job["runs-on"] and job["steps"], name

@SLOW
def test_workflow_matrix_runs_every_nox_sweep_session_in_every_shard(workflow, nox_sessions):
    matrix = workflow["jobs"]["sweep"]["strategy"]["matrix"]
    assert matrix["env"] == list(_noxfile().MATRIX)
    runs = " ".join(step.get("run", "") for step in workflow["jobs"]["sweep"]["steps"])
    shards = re.search(r"--shard \$\{\{ matrix.shard \}\}/(\d+)", runs)
    assert shards and matrix["shard"] == list(range(1, int(shards.group(1)) + 1))
    assert 'nox -s "sweep(${{ matrix.env }})"' in runs
    for env in matrix["env"]:
        assert f"sweep({env})" in nox_sessions
    assert {"tests", "report"} <= nox_sessions


def test_report_job_merges_what_the_sweep_jobs_upload(workflow):
    uploads = [s for s in workflow["jobs"]["sweep"]["steps"] if s.get("uses", "").startswith("actions/upload-artifact")]
    downloads = [s for s in workflow["jobs"]["report"]["steps"]
                 if s.get("uses", "").startswith("actions/download-artifact")]
    assert uploads and downloads
    assert uploads[0]["with"]["name"].startswith("records-") and downloads[0]["with"]["pattern"] == "records-*"
    assert downloads[0]["with"]["path"] == "reports/records"
    assert any("nox -s report" in s.get("run", "") for s in workflow["jobs"]["report"]["steps"])


@pytest.mark.needs("tensorflow")
def test_the_ci_probe_names_the_other_tensorflow_code_path():
    """`.ci/onednn-other` (what .ci/run and the workflow's second pass use) prints the oneDNN
    setting that gives the code path this machine does not run by default."""
    import os

    probe = Path(__file__).resolve().parents[1] / ".ci" / "onednn-other"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    run = subprocess.run(["bash", str(probe)], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    default_is_eigen = subprocess.run(
        [sys.executable, "-c", "from harness.frameworks.tensorflow import runs_eigen; print(runs_eigen('float32'))"],
        capture_output=True, text=True, env={k: v for k, v in env.items() if k != "TF_ENABLE_ONEDNN_OPTS"},
        timeout=300).stdout.strip() == "True"
    assert run.stdout.strip() == ("1" if default_is_eigen else "0")
