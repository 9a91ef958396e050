"""The README as a guide: the files it names ship with the project, its example
specs are valid, and the example script says what it wrote and where."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness import ConvSpec
from helpers import FRAMEWORK_BACKENDS, SLOW

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_every_example_file_the_readme_names_exists():
    named = set(re.findall(r"examples/[\w/.-]+\.(?:json|py)", README))
    assert {"examples/specs/nhwc-same-stride2.json", "examples/models.py"} <= named
    assert [path for path in sorted(named) if not (ROOT / path).is_file()] == []


@pytest.mark.parametrize("path", sorted((ROOT / "examples" / "specs").glob("*.json")), ids=lambda p: p.name)
def test_every_example_spec_is_valid(path):
    assert ConvSpec.from_dict(json.loads(path.read_text())).output_shape


def test_the_code_map_lists_every_module():
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "harness").rglob("*.py")}
    assert [m for m in sorted(modules) if f"    {m} " not in README] == []


@SLOW
@pytest.mark.skipif("torch" not in FRAMEWORK_BACKENDS, reason="the mistaken port is written with torch")
def test_the_example_script_writes_into_the_folder_it_names_and_says_so(tmp_path):
    run = subprocess.run([sys.executable, str(ROOT / "examples" / "models.py"), "--folder", str(tmp_path / "d")],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["inputs.npz", "observed.npy"]
    assert f"wrote {tmp_path / 'd' / 'inputs.npz'}" in run.stdout and "next: convharness diagnose" in run.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]  # nothing written beside it
