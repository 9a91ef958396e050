"""Assertion helpers shared by the tests: messages say what, where, and by how much."""

from __future__ import annotations

import importlib
import os

import numpy as np
import pytest

from harness import available_backends
from harness.backends import REGISTRY, Entry, entries
from harness.check import CheckResult, reproduce_command
from harness.tolerance import judge
from known_failures import known_failure

FRAMEWORK_BACKENDS = tuple(b for b in available_backends() if b != "numpy")
LAYER_BACKENDS = available_backends(layers=True)  # Keras under each backend: run when named
# For a test that runs whichever framework is installed (FRAMEWORK_BACKENDS[0]): any one will do.
NEEDS_A_FRAMEWORK = pytest.mark.needs(one_of=tuple(
    name for name, entry in REGISTRY.items() if entry.default and name != "numpy"))


# Packages that are no backend but that a kind of model needs, as entries for their install
# hints: Keras 2 comes with the keras2 extra, Flax linen with flax (found without importing it).
PACKAGES = {"tf_keras": Entry("", "tf_keras", "keras2"), "flax.linen": Entry("", "flax", "flax")}


def _entry(name: str) -> Entry:
    """The registry entry of backend ``name``, or of a package of ``PACKAGES``; "keras" is Keras under
    the backend it imports by default (KERAS_BACKEND, else TensorFlow), since importing Keras imports
    that backend too."""
    known = {**entries(), **PACKAGES}
    key = f"keras.{os.environ.get('KERAS_BACKEND', 'tensorflow')}" if name == "keras" else name
    if key not in known:
        raise ValueError(f"needs({name!r}): not a backend; choose from keras, {', '.join(known)}")
    return known[key]


def installed(*names: str) -> tuple[str, ...]:
    """The backends among ``names`` whose framework is installed, in that order (imports none):
    what a test parametrized over some backends runs over."""
    return tuple(name for name in names if _entry(name).installed())


def missing(*names: str, one_of: tuple[str, ...] = ()) -> str:
    """Why a test marked ``needs(*names, one_of=...)`` cannot run here, with the install hint
    of each framework it lacks ("" where it can run): it needs every backend of ``names``
    and, where ``one_of`` is given, at least one of those."""
    lacking = [f"{name} ({_entry(name).install_hint()})" for name in names if not installed(name)]
    if one_of and not installed(*one_of):
        lacking.append(f"one of {', '.join(one_of)} ({_entry(one_of[0]).install_hint()})")
    return f"needs {'; '.join(lacking)}" if lacking else ""


def imported(name: str):
    """The framework ``name`` (or package of ``PACKAGES``) for a test module that subclasses its
    classes at import (models defined at module level): imported, or the whole module skipped
    with the install hint."""
    reason = missing(name)
    if reason:
        pytest.skip(reason, allow_module_level=True)
    return importlib.import_module(name)

# The modules whose tests import TensorFlow in the pytest process share one
# xdist group: under `pytest -n 2` one worker imports it (3 s, and 1 s more at
# exit) while the other never does. Test modules import no framework at
# collection, so the group decides which worker pays.
IMPORTS_TENSORFLOW = pytest.mark.xdist_group("imports-tensorflow")

# Integration tests that take seconds each: whole keras.applications models, sweeps
# and scripts in new processes. `pytest -m "not slow"` leaves them out for a quick loop.
SLOW = pytest.mark.slow

# The worked examples state decimal results (0.9, 0.1, 0.12) of decimal inputs
# that float64 cannot hold exactly; a few float64 ulps of input rounding remain.
DECIMAL_INPUT_RTOL = 1e-12


def refused_here(backend: str, spec, *, gradient: bool = False):
    """The declared refusal that this machine's code path gives ``spec`` in ``backend`` (with
    ``gradient``, among the refusals of its autodiff): one whose presence is probed
    (Refusal.present other than the default) and present here. Such refusals are exact (a
    kernel that is missing here), so a test expects them, not a result."""
    from harness.backends import get_backend

    adapter = get_backend(backend)
    declared = adapter.gradient_refusals if gradient else adapter.refusals
    return next((r for r in declared if r.probed and r.applies(spec) and r.present(spec)), None)


def assert_all_agree(result: CheckResult) -> None:
    """Every backend passed, or refused in a way its adapter declares, or hit a known bug."""
    bad = [o for o in result.outcomes if not o.ok and known_failure(o.backend, result.spec) is None]
    assert not bad, "\n".join(
        f"{o.backend}{'' if o.quantity == 'y' else ' ' + o.quantity}: {o.status} (err/bound {o.ratio}, "
        f"max abs err {o.max_abs_error} at {o.worst_index}) {o.message}\n  "
        f"{reproduce_command(result.spec, result.seed, result.exact, backends=[o.backend], grad=result.grad)}"
        f"\n  call: {o.call}"
        for o in bad
    )


def assert_equivalent(a, b, bound, what: str) -> None:
    """Two results of one convolution, each within ``bound`` of the truth, differ by at most 2*bound."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    result = judge(a, b, 2 * bound)
    assert result.shape_ok, f"{what}: shapes {a.shape} and {b.shape}"
    worst = result.worst_index
    assert result.within_bound, (
        f"{what}: differ by {result.errors[worst]} at {worst}, {result.ratio:.3g} x the bound {2 * bound[worst]}"
    )


def assert_close_to_stated(got, stated, what: str) -> None:
    got = np.asarray(got, dtype=np.float64)
    assert got.shape == stated.shape, f"{what}: shape {got.shape}, stated {stated.shape}"
    error = np.abs(got - stated)
    limit = DECIMAL_INPUT_RTOL * np.maximum(np.abs(stated), 1.0)
    assert np.all(error <= limit), f"{what}: got {got.ravel()}, stated {stated.ravel()}, max error {error.max()}"


def assert_every_layer_agrees(results, own: str) -> list:
    """Every scanned layer passed in every backend (or was refused as declared), and
    the model's own output for it (backend ``own``) equals the reference."""
    assert results, "no convolution captured"
    bad = [(r.layer.name, r.layer.spec.describe(), o.backend, o.status, o.ratio, o.message)
           for r in results for o in r.result.outcomes if not o.ok]
    assert not bad, "\n".join(map(str, bad))
    compared = [o for r in results for o in r.result.outcomes if o.backend == own]
    assert all(o.status == "pass" for o in compared)
    return compared


def assert_mistake_found(result, layer: str, verdict: str, differences: tuple, weights: str, named) -> None:
    """A comparison's first divergence is at ``layer`` in both models, with the verdict, spec
    differences, weight transform and (where given) mistake name an injected mistake should get."""
    first = result.first_divergence
    assert (first.source, first.target, first.verdict) == (layer, layer, verdict), [p.to_dict() for p in result.pairs]
    assert first.spec_differences == differences and first.weights == weights
    if named:
        assert first.mistakes[0] == named, first
    if verdict == "input_differs":
        assert "parted between conv2 and this layer" in first.detail
