"""The harness changes no JAX setting that outlives its own calls: after `check`
has run the jax and flax backends, a user's float32 code is still float32, and
x64 and the persistent-cache options are what the user had; JAX's cache,
which it opens once per process, holds only the harness's programs in the
harness's folder and only the user's in the user's.

All of it runs in one new process, where nothing but the script has touched
JAX (the pytest process's own state could hide a leak)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from helpers import SLOW, installed

from harness.frameworks.jax.adapter import CACHE_ENV

pytestmark = [SLOW, pytest.mark.needs("jax")]

BACKENDS = list(installed("jax", "flax"))
OPTIONS = ("jax_enable_x64", "jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
           "jax_persistent_cache_min_entry_size_bytes")
# the user's own values, each unlike the harness's (x64 on for float64 calls, its folder, 0.0 s, 0 bytes)
USERS = {"jax_enable_x64": True, "jax_persistent_cache_min_compile_time_secs": 0.5,
         "jax_persistent_cache_min_entry_size_bytes": 10}

SCRIPT = """
import json, os, sys
import numpy as np
import jax, jax.numpy as jnp
from harness import check
from harness.spec import ConvSpec

backends, options, users, theirs, ours = json.loads(sys.argv[1])
seen = {}

def settings():
    return {option: getattr(jax.config, option) for option in options}

def spec(spatial, dtype):  # sizes no other case here uses: each check compiles a new program
    return ConvSpec(layout="NCHW", in_channels=2, out_channels=3, spatial=spatial, kernel=3, padding=1, bias=True,
                    dtype=dtype)

def statuses(result):
    return [str(outcome.status) for outcome in result.outcomes]

def files(folder):
    return len(os.listdir(folder)) if os.path.isdir(folder) else 0

seen["defaults"] = settings()
seen["statuses"] = statuses(check(spec((5, 6), "float64"), backends=backends)) + \\
    statuses(check(spec((6, 5), "float32"), backends=backends))
seen["after"] = settings()
seen["dtypes"] = [str((jnp.ones(3) * 1.0).dtype), str(jnp.asarray(np.ones(3, np.float64)).dtype)]

# the user without a cache folder saves every program: none goes to the harness's folder
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
held = files(ours)
jax.jit(lambda a: a * 2 + 1)(np.ones(7, np.float32)).block_until_ready()
seen["ours_after_users_program"] = files(ours) - held

# the user's own folder and values: put back after each check; each program in its own folder
for option, value in users.items():
    jax.config.update(option, value)
jax.config.update("jax_compilation_cache_dir", theirs)
seen["set"] = settings()
check(spec((7, 5), "float64"), backends=backends)
seen["restored"] = settings()
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
counts = [(files(theirs), files(ours))]
jax.jit(lambda a: a * 3 - 1)(np.ones(9, np.float32)).block_until_ready()
counts.append((files(theirs), files(ours)))
check(spec((5, 7), "float32"), backends=backends)
counts.append((files(theirs), files(ours)))
jax.jit(lambda a: a * 5 - 2)(np.ones(11, np.float32)).block_until_ready()
counts.append((files(theirs), files(ours)))
seen["counts"] = counts
print(json.dumps(seen))
"""


@pytest.fixture(scope="module")
def seen(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("jax-settings")
    theirs, ours = str(folder / "users-cache"), str(folder / "harness-cache")
    argument = json.dumps([BACKENDS, OPTIONS, USERS, theirs, ours])
    run = subprocess.run([sys.executable, "-c", SCRIPT, argument], capture_output=True, text=True, timeout=600,
                         env={**os.environ, CACHE_ENV: ours})
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.splitlines()[-1])


def test_the_checks_run(seen):
    assert seen["statuses"] == ["pass"] * 2 * len(BACKENDS)


def test_a_users_float32_jax_code_stays_float32_after_check(seen):
    # jnp.ones(3) * 1.0 and jnp.asarray of a float64 NumPy array: float32 unless x64 is on (JAX's default)
    assert seen["dtypes"] == ["float32", "float32"]


def test_check_leaves_the_default_x64_and_cache_settings_as_they_were(seen):
    assert seen["defaults"]["jax_enable_x64"] is False and seen["defaults"]["jax_compilation_cache_dir"] is None
    assert seen["after"] == seen["defaults"]


def test_check_puts_back_the_users_own_x64_and_cache_settings(seen):
    assert {option: seen["set"][option] for option in USERS} == USERS  # what the user set, JAX took
    assert seen["restored"] == seen["set"]


def test_a_user_without_a_cache_folder_saves_nothing_in_the_harnesss(seen):
    assert seen["ours_after_users_program"] == 0


def test_the_users_programs_go_to_the_users_folder_and_the_harnesss_to_its_own(seen):
    (theirs0, ours0), (theirs1, ours1), (theirs2, ours2), (theirs3, ours3) = seen["counts"]
    assert (theirs1 - theirs0, ours1 - ours0) == (1, 0), "the user's program"
    assert theirs2 == theirs1 and ours2 > ours1, "the harness's programs"
    assert (theirs3 - theirs2, ours3 - ours2) == (1, 0), "the user's next program"
