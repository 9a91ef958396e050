"""The README as a guide: short, its two set-up commands the ones CI runs, the files it
names ship with the project, its example specs are valid, its first check prints what it
shows, and the example script says what it wrote and where. The code map, on the docs'
architecture page, names every module."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness import ConvSpec
from helpers import SLOW

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
ARCHITECTURE = (ROOT / "docs" / "architecture.md").read_text()


def test_the_readme_is_at_most_300_lines():
    assert len(README.splitlines()) <= 300


def test_the_readme_gives_the_two_set_up_commands_and_ci_runs_the_second():
    venv = "python3 -m venv .venv && . .venv/bin/activate && "
    commands = re.findall(r"^    (python3 -m venv .+)$", README, re.M)
    assert commands == [venv + "pip install -e '.[all]' -c constraints.txt && convharness examples",
                        venv + "pip install -e '.[all,test,docs]' -c constraints.txt && pytest -n 2"]
    assert commands[1] in (ROOT / ".ci" / "run").read_text()


def test_every_example_file_the_readme_names_exists():
    named = set(re.findall(r"examples/[\w/.-]+\.(?:json|py)", README))
    assert {"examples/specs/nhwc-same-stride2.json", "examples/models.py"} <= named
    assert [path for path in sorted(named) if not (ROOT / path).is_file()] == []


@pytest.mark.parametrize("path", sorted((ROOT / "examples" / "specs").glob("*.json")), ids=lambda p: p.name)
def test_every_example_spec_is_valid(path):
    assert ConvSpec.from_dict(json.loads(path.read_text())).output_shape


def test_the_code_map_lists_every_module():
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "harness").rglob("*.py")}
    assert [m for m in sorted(modules) if f"    {m} " not in ARCHITECTURE] == []


@SLOW
@pytest.mark.needs("torch")  # the mistaken port is written with torch
def test_the_example_script_writes_into_the_folder_it_names_and_says_so(tmp_path):
    run = subprocess.run([sys.executable, str(ROOT / "examples" / "models.py"), "--folder", str(tmp_path / "d")],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["inputs.npz", "observed.npy"]
    assert f"wrote {tmp_path / 'd' / 'inputs.npz'}" in run.stdout and "next: convharness diagnose" in run.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]  # nothing written beside it


def _first_check(text: str, heading: str) -> list[tuple[str, str]]:
    """Each command of a first-check section and the output block documented after it."""
    section = text.split(f"{heading} Your first check", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^    convharness (check [^\n]+)\n\n```\n(.*?)\n```", section, re.S | re.M)


DOCUMENTED = _first_check(README, "###")


def test_the_getting_started_page_shows_the_readmes_first_check():
    assert _first_check((ROOT / "docs" / "getting-started.md").read_text(), "##") == DOCUMENTED


def _without_figures(text: str) -> list[str]:
    """The lines with every free-standing number (the errors, which vary by machine) as N, runs of spaces
    as one (the columns widen with the numbers). TensorFlow's row depends on the CPU's code path too (its
    Eigen kernels refuse channels-first, oneDNN's take it, and each words a refusal its own way): its
    transposed-layout note goes, and a refusal keeps its declared reason, not the framework's words."""
    lines = [re.sub(r"(?<!\S)-?\d[\d.]*(?:e[-+]?\d+)?(?!\S)", "N", " ".join(line.split()))
             for line in text.strip().splitlines()]
    lines = [line.removesuffix(" (layout transposed around the call)") if line.startswith("tensorflow ") else line
             for line in lines]
    return [line.split(": ", 1)[0] if line.startswith("tensorflow unsupported ") else line for line in lines]


def test_the_first_check_section_documents_its_commands_output():
    assert [command.split()[:2] for command, _ in DOCUMENTED] == [
        ["check", "examples/specs/nhwc-same-stride2.json"], ["check", "examples/specs/depthwise-ncdhw-bfloat16.json"]]
    assert _without_figures("  numpy  pass  6.51e-06  0.00592  y = f(x, 2)") == ["numpy pass N N y = f(x, 2)"]


@SLOW
@pytest.mark.needs("torch", "tensorflow", "jax")  # documented with every framework
@pytest.mark.parametrize("command, documented", DOCUMENTED, ids=[c.split()[1] for c, _ in DOCUMENTED])
def test_the_first_check_prints_what_the_readme_shows_but_the_figures(command, documented):
    run = subprocess.run([sys.executable, "-m", "harness.cli", *command.split()], capture_output=True, text=True,
                         cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert _without_figures(run.stdout) == _without_figures(documented)
