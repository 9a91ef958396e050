"""The registry of backends: a name, where its adapter lives, and how to install it.

Adapters import their framework on first use; availability is decided with
``importlib.util.find_spec``, which imports nothing.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import importlib.util
import os
from typing import TYPE_CHECKING, Iterable

from ..calls import Rendered
from ..spec import ConvSpec

if TYPE_CHECKING:
    import numpy as np

    from .base import Backend, Gradients, Refusal, Unsupported  # noqa: F401

INSTALL = "pip install 'convharness[{extra}]' -c constraints.txt"


@dataclasses.dataclass(frozen=True)
class Entry:
    target: str  # "module:Class"
    requires: str  # the top-level modules that must be importable, separated by commas
    extra: str = ""  # the install extra that provides it ("" for NumPy and your own backends)
    default: bool = True  # run when no backends are named (layer backends are named to run)

    def installed(self) -> bool:
        return all(importlib.util.find_spec(module) is not None for module in self.requires.split(","))

    def install_hint(self) -> str:
        if self.extra:
            return INSTALL.format(extra=self.extra)
        return f"make the module {self.requires!r} importable (it comes with no convharness extra)"


def _framework_entries() -> dict[str, Entry]:
    """The backends each framework package declares (``harness.frameworks``: its ``BACKENDS``)."""
    from .. import frameworks

    return {name: Entry(f"{frameworks.__name__}.{package}.adapter:{fields['adapter']}", fields["requires"],
                        fields.get("extra", ""), fields.get("default", True))
            for package in frameworks.PACKAGES
            for name, fields in frameworks.package(package).BACKENDS.items()}


REGISTRY: dict[str, Entry] = _framework_entries()


EXTRA_ENV = "CONVHARNESS_BACKENDS"


def _extra_entries(value: str) -> dict[str, Entry]:
    """Your own backends, e.g. a port under test: "name=module:Class,other=module:Class"."""
    entries = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        name, sep, target = item.partition("=")
        if not sep or target.count(":") != 1 or not name:
            raise ValueError(f"{EXTRA_ENV}={value!r}: entries are name=module:Class, separated by commas")
        entries[name] = Entry(target, target.split(":")[0].split(".")[0])
    return entries


def entries() -> dict[str, Entry]:
    """The registry with the backends of CONVHARNESS_BACKENDS, read when a backend is
    resolved (not at import, so a malformed value cannot break ``import harness``):
    ValueError naming the variable and its form where it is malformed."""
    return {**REGISTRY, **_extra_entries(os.environ.get(EXTRA_ENV, ""))}


def register(name: str, target: str, *, requires: str | None = None, extra: str = "") -> None:
    """Add your own backend (a port under test): ``target`` is "module:Class", a
    Backend subclass imported on first use; ``requires`` the module that must be
    importable (default: the target's top-level package). Sweep workers are new
    processes: register there too, or use the CONVHARNESS_BACKENDS variable."""
    (entry,) = _extra_entries(f"{name}={target}").values()
    REGISTRY[name] = dataclasses.replace(entry, requires=requires or entry.requires, extra=extra)
    get_backend.cache_clear()


def available_backends(*, layers: bool = False) -> tuple[str, ...]:
    """The registered backends whose framework is installed (imports none): the ones
    that run by default, or with ``layers`` the layer backends (Keras under each of
    its backends), which run when named, each in a worker process of its own."""
    return tuple(name for name, entry in entries().items() if entry.installed() and entry.default != layers)


def load_backends(backends: Iterable[str] | None = None) -> None:
    """Import the frameworks of ``backends`` (every available one by default) up front, as
    ``Backend.load`` does, so that a clock started after it measures cases, not imports; a
    backend that fails to load is left to report it when it runs."""
    for name in available_backends() if backends is None else backends:
        try:
            get_backend(name).load()
        except Exception:
            pass


@functools.cache
def get_backend(name: str) -> Backend:
    """The adapter registered as ``name``, imported on first use and cached: ValueError for an
    unknown name, ImportError with the install hint where its framework is missing."""
    known = entries()
    try:
        entry = known[name]
    except KeyError:
        raise ValueError(f"backend={name!r}: unknown; choose from {', '.join(known)}") from None
    module_name, class_name = entry.target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportError(f"backend {name!r} needs {entry.requires}: {entry.install_hint()} ({exc})") from exc
    return getattr(module, class_name)()


def resolve_backends(names: Iterable[str] | None) -> tuple[str, ...]:
    """``names`` checked before anything runs (the installed backends for None):
    ValueError for an unknown name, or one whose framework is not installed."""
    if names is None:
        return available_backends()
    names = tuple(names)
    if not names:
        raise ValueError("backends: name at least one")
    known = entries()
    for name in names:
        entry = known.get(name)
        if entry is None:
            raise ValueError(f"backends={name!r}: unknown backend; known: {', '.join(known)}")
        if not entry.installed():
            raise ValueError(f"backends={name!r}: needs {entry.requires}, which is not installed: "
                             f"{entry.install_hint()}")
    return names


def run_with_call(name: str, spec: ConvSpec, x, w, b=None) -> tuple[np.ndarray, Rendered]:
    """Run one backend; the result in ``spec.layout`` and the call it made."""
    return get_backend(name).run(spec, x, w, b)


def run_backend(name: str, spec: ConvSpec, x, w, b=None) -> np.ndarray:
    """Run one backend; the result in ``spec.layout`` as a NumPy array."""
    return run_with_call(name, spec, x, w, b)[0]


def backend_vjp(name: str, spec: ConvSpec, x, w, b, dy) -> Gradients:
    """The gradient of ``spec`` at ``x, w, b`` pulled back from ``dy`` (shaped like its output)
    by the framework's own autodiff: ``(dx, dw, db)``, ``dx`` in ``spec.layout``, ``dw`` in the
    neutral weight order, ``db`` None without a bias (``Backend.gradients``). A declared
    refusal raises Unsupported, as ``run_backend`` does."""
    return get_backend(name).gradients(spec, x, w, b, dy)[0]


def __getattr__(name: str):
    """The adapters' base types, imported (with NumPy) on first use, not with the registry."""
    if name in ("Backend", "Gradients", "Refusal", "Unsupported"):
        from . import base

        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "REGISTRY", "Backend", "Gradients", "Refusal", "Rendered", "Unsupported",
    "available_backends", "get_backend", "load_backends", "register", "resolve_backends", "run_with_call", "run_backend",
    "backend_vjp",
]
