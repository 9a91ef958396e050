"""Hypothesis profiles, registered once: HYPOTHESIS_PROFILE picks one
("dev" by default, "ci" when CI is set). Under pytest-xdist each worker sizes
the frameworks' thread pools to its share of the cores before any framework
is imported (harness.threads); a test marked ``needs("torch", ...)`` is skipped,
with the install hint, where a framework it names is not installed; and only the worker that runs the tests marked
IMPORTS_TENSORFLOW (helpers.py) imports TensorFlow: a test that imports it
outside that group, a module that imports it at collection, or a pytest with
which the groups do not take, is warned of. The fixtures that register the
stand-in backends of fake_backends.py serve several modules."""

import gc
import os
import sys
from datetime import timedelta

import pytest
from hypothesis import settings

from harness.devices import share_gpu
from harness.threads import share_cores
from helpers import IMPORTS_TENSORFLOW, missing

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
if "PYTEST_XDIST_WORKER_COUNT" in os.environ:
    share_cores(int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    share_gpu()  # JAX would preallocate 75% of a GPU in each worker

# JAX compiles each new shape on first use (tens of ms, up to seconds for a
# large grouped 3-D case on a busy machine): deadlines leave room for that.
settings.register_profile("dev", max_examples=15, deadline=timedelta(seconds=20))
settings.register_profile("ci", max_examples=40, deadline=timedelta(seconds=30), print_blob=True)
settings.register_profile("thorough", max_examples=500, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def pytest_runtest_setup(item):
    """``@pytest.mark.needs("torch", "keras", one_of=(...))``: the backends (registry names,
    or "keras") a test needs; skipped with their install hints where one is not installed."""
    for mark in item.iter_markers("needs"):
        reason = missing(*mark.args, **mark.kwargs)
        if reason:
            pytest.skip(reason)


def _tensorflow_loaded() -> bool:
    return "tensorflow" in sys.modules


def _warn_of_tensorflow(node, what: str) -> None:
    node.warn(pytest.PytestWarning(
        f"{what} imported TensorFlow: under pytest -n 2 both workers now import it (3 s each); "
        "import it inside the tests, in modules marked IMPORTS_TENSORFLOW (tests/helpers.py)"))


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    before = _tensorflow_loaded()
    report = yield
    if not before and _tensorflow_loaded() and isinstance(collector, pytest.Module):
        _warn_of_tensorflow(collector, "collecting this module")
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    before = _tensorflow_loaded()
    try:
        return (yield)
    finally:
        group = item.get_closest_marker("xdist_group")
        if not before and _tensorflow_loaded() and (group is None or group.args != IMPORTS_TENSORFLOW.args):
            _warn_of_tensorflow(item, "this test, outside the IMPORTS_TENSORFLOW group,")


def pytest_collection_finish(session):
    """Under `--dist loadgroup` pytest-xdist marks each grouped test's node ID
    with its group ("...@imports-tensorflow"), in each worker, and the controller
    schedules by that suffix. pytest 9.2 changed node IDs so that the suffix
    no longer takes (pytest-xdist 3.8): the suite then runs as if ungrouped,
    both workers import TensorFlow and the grouped module fixtures run twice.
    constraints.txt keeps pytest below 9.2; elsewhere this says so."""
    if not getattr(session.config.option, "loadgroup", False):
        return  # not an xdist worker, or another --dist
    lost = [item for item in session.items
            if item.get_closest_marker("xdist_group") and "@" not in item.nodeid.rpartition("]")[2]]
    if lost:
        lost[0].warn(pytest.PytestWarning(
            f"pytest-xdist's --dist loadgroup did not group the tests with this pytest ({pytest.__version__}): "
            f"{len(lost)} grouped tests run as if ungrouped, so both workers import TensorFlow and the grouped "
            "module fixtures run twice. Install the tested versions: pip install -e '.[all,test]' -c constraints.txt"))


@pytest.fixture(autouse=True, scope="module")
def _free_jax_programs():
    """JAX frees its compiled programs when the process exits, 2 ms each: 1.2 s
    for the worker that ran the property tests, while under pytest -n 2 the
    other worker has often finished and its core idles. Freed as each module
    ends instead, the cost falls while the other worker is still busy."""
    yield
    if "jax" in sys.modules:
        sys.modules["jax"].clear_caches()


_modules_at_freeze = 0


def pytest_runtest_logfinish(nodeid, location):
    """After a test that imported modules (a framework, or the parts of one it
    loads on first use): their long-lived objects leave the garbage
    collector's view (collected first, so no garbage is frozen with them), and
    each later collection, pytest's five at exit included, walks only what the
    tests create."""
    global _modules_at_freeze
    if len(sys.modules) > _modules_at_freeze:
        gc.collect()
        gc.freeze()
        _modules_at_freeze = len(sys.modules)


# Backends of tests/fake_backends.py, for the tests of the sweep, the command line, records and devices.
@pytest.fixture
def fake_backends(monkeypatch):
    """Wrong backends registered for this process and for sweep workers (which inherit the variable)."""
    from harness.backends import EXTRA_ENV, REGISTRY, _extra_entries

    value = ("flipped=fake_backends:FlippedKernel,kills=fake_backends:KillsItsProcess,"
             "dies_loading=fake_backends:DiesWhileLoading,slow_loading=fake_backends:SlowToLoad,"
             "killed_mid_case=fake_backends:KilledMidCase")
    monkeypatch.setenv(EXTRA_ENV, value)
    for name, entry in _extra_entries(value).items():
        monkeypatch.setitem(REGISTRY, name, entry)


@pytest.fixture
def stand_ins(monkeypatch):
    """Stand-ins that compute as a GPU would (TF32, nondeterministic), registered for this test."""
    from harness.backends import REGISTRY, Entry, get_backend

    for name, target in (("tf32_gpu", "TensorFloat32"), ("tf32_unsaid", "Tf32Unsaid"),
                         ("nondeterministic", "Nondeterministic")):
        monkeypatch.setitem(REGISTRY, name, Entry(f"fake_backends:{target}", "fake_backends"))
    get_backend.cache_clear()
    yield
    get_backend.cache_clear()
