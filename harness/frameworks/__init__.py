"""One package per framework: everything that framework knows.

Adding a framework is one package here and one line in ``PACKAGES``. A package's
``__init__`` imports no framework (``convharness --help`` imports none) and declares:

- ``BACKENDS``: for each adapter it registers, its backend name -> ``adapter`` (the class
  in its ``adapter`` module, a ``harness.backends.base.Backend``), ``requires`` (the
  top-level modules that must be importable, separated by commas), ``extra`` (the
  install extra that provides them) and ``default`` (False for a backend that runs
  only when named);
- optionally ``WHILE_LOADING_MODELS``: the name, in ``PUBLIC``, of a context manager to
  hold while a user's model code is imported and built (TensorFlow's holds its native
  start-up logs);
- optionally ``DISTRIBUTIONS``: each name its records give a version under -> the
  distribution to read it from (package metadata: nothing is imported), or a tuple of
  alternatives, the first installed read (``tensorflow-cpu`` or ``tensorflow``);
- optionally ``VARIABLES``: the environment variables that choose its kernels, and so the
  numbers (recorded with every record; reproducers set them again);
- optionally ``THREAD_VARIABLES``: the variables that size its thread pools, read when it
  starts (``harness.threads`` sets them to a worker's share of the cores);
- optionally ``LAYOUT_NOTES``: ``{"channels-last": note, "channels-first": note}``, what
  ``explain`` says of how it runs a spec of that channel order;
- ``PUBLIC``: the names other framework packages may import from it (``from
  ..tensorflow import runs_eigen``), each mapped to the module that defines it; nothing
  else of a package is imported from outside it;
- where the framework has models of its own, a ``models`` module with the porting
  hooks (``harness.porting.MODEL_HOOKS`` lists them): ``scan``, ``compare`` and ``port``
  then take its models.
"""

from __future__ import annotations

import contextlib
import importlib
from types import ModuleType
from typing import Any, Iterator

PACKAGES = ("numpy", "torch", "tensorflow", "jax", "keras", "tf_keras", "flax", "onnx")


def package(name: str) -> ModuleType:
    """The framework package ``name`` (its ``__init__`` only: no framework is imported)."""
    return importlib.import_module(f"{__name__}.{name}")


def public(package_name: str, attribute: str):
    """``PUBLIC`` through a package's ``__getattr__``: the module that defines ``attribute``, imported on first use."""
    module = package(package_name)
    try:
        where = module.PUBLIC[attribute]
    except KeyError:
        raise AttributeError(f"module {module.__name__!r} has no public attribute {attribute!r}") from None
    return getattr(importlib.import_module(f"{module.__name__}.{where}"), attribute)


def declared(attribute: str) -> Iterator[tuple[str, Any]]:
    """(package name, value) of every package that declares ``attribute``, in ``PACKAGES`` order."""
    for name in PACKAGES:
        value = getattr(package(name), attribute, None)
        if value:
            yield name, value


def distributions() -> dict[str, tuple[str, ...]]:
    """Every package's ``DISTRIBUTIONS``: a version's name -> the distributions to read it from, first installed."""
    return {version: (dist,) if isinstance(dist, str) else tuple(dist)
            for _, declared_here in declared("DISTRIBUTIONS") for version, dist in declared_here.items()}


def variables() -> tuple[str, ...]:
    """Every package's ``VARIABLES``: the environment variables that choose kernels."""
    return tuple(name for _, names in declared("VARIABLES") for name in names)


def thread_variables() -> tuple[str, ...]:
    """Every package's ``THREAD_VARIABLES``: the environment variables that size thread pools."""
    return tuple(name for _, names in declared("THREAD_VARIABLES") for name in names)


def layout_notes(channels_last: bool) -> list[str]:
    """What each package's ``LAYOUT_NOTES`` says of a spec of this channel order."""
    order = "channels-last" if channels_last else "channels-first"
    return [notes[order] for _, notes in declared("LAYOUT_NOTES") if order in notes]


@contextlib.contextmanager
def loading_models():
    """Each package's ``WHILE_LOADING_MODELS`` context held around loading a user's models."""
    with contextlib.ExitStack() as stack:
        for name, hold in declared("WHILE_LOADING_MODELS"):
            stack.enter_context(public(name, hold)())
        yield
