"""JAX's compilations, counted with its own monitoring events: a case compiles
one program (the jitted convolution, not one more per input converted), and
the persistent cache stores it so that another process loads it instead."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import subprocess
import sys

import pytest

from helpers import SLOW

from harness import check
from harness.frameworks.jax.adapter import CACHE_ENV, cache_dir
from harness.spec import ConvSpec

pytestmark = pytest.mark.needs("jax")

LOWERED = "/jax/core/compile/jaxpr_to_mlir_module_duration"  # one per program JAX builds
CACHE_HITS = "/jax/compilation_cache/cache_hits"

# Sizes no other test uses, so no program is already in JAX's memory.
SPEC = ConvSpec(layout="NHWC", in_channels=3, out_channels=6, spatial=(13, 11), kernel=(3, 2), stride=(2, 1),
                padding="same", groups=3, bias=True)


_counting: list[list[str]] = []  # the open lowerings() blocks' lists


def _on_duration(event: str, duration: float, **details) -> None:
    if event == LOWERED:
        for names in _counting:
            names.append(details.get("fun_name", "?"))  # older JAX names no function


@functools.cache
def _listen() -> None:
    """Registered once: older JAX has no public way to unregister a listener."""
    import jax.monitoring

    jax.monitoring.register_event_duration_secs_listener(_on_duration)


@contextlib.contextmanager
def lowerings():
    """The programs JAX lowers inside the block, by name."""
    _listen()
    names: list[str] = []
    _counting.append(names)
    try:
        yield names
    finally:
        _counting.remove(names)


def test_a_case_compiles_the_convolution_only():
    with lowerings() as lowered:
        outcome = check(SPEC, seed=3, backends=["jax"]).outcomes[0]
        check(SPEC, seed=4, backends=["jax"])  # same shapes, new data: nothing new to compile
    assert outcome.status == "pass", outcome.message
    assert len(lowered) == 1, f"JAX lowered {lowered} for one case; the inputs should go in as NumPy arrays"


CHECK_IN_A_NEW_PROCESS = """
import json, sys
import jax.monitoring
events = []
jax.monitoring.register_event_listener(lambda event, **details: events.append(event))
from harness import check
from harness.spec import ConvSpec
outcome = check(ConvSpec.from_json(sys.argv[1]), seed=0, backends=["jax"]).outcomes[0]
print(json.dumps({"status": outcome.status, "hits": events.count(%r)}))
""" % CACHE_HITS


def _check_in_a_new_process(folder: str) -> dict:
    run = subprocess.run([sys.executable, "-c", CHECK_IN_A_NEW_PROCESS, SPEC.to_json()], capture_output=True,
                         text=True, env={**os.environ, CACHE_ENV: folder}, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.splitlines()[-1])

@SLOW
def test_the_persistent_cache_saves_the_program_for_the_next_process(tmp_path):
    folder = tmp_path / "jax-cache"
    first = _check_in_a_new_process(str(folder))
    saved = sorted(os.listdir(folder))
    second = _check_in_a_new_process(str(folder))
    assert (first["status"], second["status"]) == ("pass", "pass")
    assert saved and first["hits"] == 0, f"the first process should compile and save: saved {saved}"
    assert second["hits"] == 1 and sorted(os.listdir(folder)) == saved, "the second process should load it"


@pytest.mark.parametrize("value,expected", [("off", None), ("OFF", None), ("/some/folder", "/some/folder")])
def test_the_cache_folder_comes_from_the_environment_and_off_disables_it(monkeypatch, value, expected):
    monkeypatch.setenv(CACHE_ENV, value)
    assert cache_dir() == expected


def test_the_default_cache_folder_is_under_the_users_cache(monkeypatch):
    monkeypatch.delenv(CACHE_ENV, raising=False)
    assert cache_dir() == os.path.join(os.path.expanduser("~"), ".cache", "convharness", "jax")
