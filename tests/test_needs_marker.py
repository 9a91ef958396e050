"""The suite's "needs framework X" marker: the reason it skips with names each missing
framework and its install hint, and a name that is no backend is refused, not skipped."""

import pytest

from harness.backends import REGISTRY, Entry
from helpers import installed, missing


@pytest.fixture
def absent(monkeypatch):
    """A backend whose framework is not installed, provided by the jax extra."""
    monkeypatch.setitem(REGISTRY, "absent", Entry("absent_framework:Backend", "absent_framework", "jax"))


def test_a_missing_framework_is_named_with_its_install_hint(absent):
    assert missing("numpy") == "" and installed("absent", "numpy") == ("numpy",)
    assert missing("numpy", "absent") == "needs absent (pip install 'convharness[jax]' -c constraints.txt)"
    assert missing(one_of=("numpy", "absent")) == ""
    assert missing(one_of=("absent",)) == "needs one of absent (pip install 'convharness[jax]' -c constraints.txt)"


def test_a_name_that_is_no_backend_is_an_error_not_a_skip():
    with pytest.raises(ValueError, match=r"^needs\('tensorflw'\): not a backend; choose from keras, numpy, "):
        missing("tensorflw")


def test_a_package_that_is_no_backend_is_named_with_the_extra_that_installs_it(monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    assert missing("tf_keras") == "needs tf_keras (pip install 'convharness[keras2]' -c constraints.txt)"
    assert missing("flax.linen") == "needs flax.linen (pip install 'convharness[flax]' -c constraints.txt)"
