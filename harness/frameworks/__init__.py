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


@contextlib.contextmanager
def loading_models():
    """Each package's ``WHILE_LOADING_MODELS`` context held around loading a user's models."""
    with contextlib.ExitStack() as stack:
        for name in PACKAGES:
            hold = getattr(package(name), "WHILE_LOADING_MODELS", None)
            if hold:
                stack.enter_context(public(name, hold)())
        yield
