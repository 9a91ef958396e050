"""Load a ``module:callable`` target that returns a model, or (model, example input)."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

import numpy as np


def find_target(target: str):
    """The callable that ``module:callable`` or ``path/to/file.py:callable`` names
    (ValueError, naming the target, where there is none)."""
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"target={target!r}: must be module:callable, e.g. mymodels:build or models.py:build")
    if module_name.endswith(".py"):
        path = Path(module_name)
        if not path.is_file():
            raise ValueError(f"target={target!r}: no such file {module_name}")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        sys.path.insert(0, str(Path.cwd()))
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ValueError(f"target={target!r}: cannot import {module_name} ({exc})") from None
        finally:
            sys.path.pop(0)
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ValueError(f"target={target!r}: {module_name} has no {attribute}") from None


def build_target(build, input_shape: tuple[int, ...] | None = None):
    """``(model, example)`` from what ``build()`` returns: a model, or (model, example input)."""
    built = build()
    model, example = built if isinstance(built, tuple) else (built, None)
    if input_shape is not None:
        example = _example(model, input_shape)
    return model, example


def _example(model, shape: tuple[int, ...]):
    data = np.random.default_rng(0).uniform(-1.0, 1.0, size=shape).astype(np.float32)
    from .porting import model_kind

    kind = model_kind(model)
    return data if kind is None else kind.as_input(data)
