"""convharness: one convolution spec, checked in PyTorch, TensorFlow, Keras 3, JAX and
Flax against a float64 NumPy reference. Importing it imports no framework, and no
numeric library until a name below is first used (the command line's --help
needs none)."""

import importlib
import sys
import types

# each public name and the module it comes from, imported on first use
_PUBLIC = {
    "ConvSpec": "spec", "make_inputs": "inputs", "reference": "reference", "available_backends": "backends",
    "run_backend": "backends", "backend_vjp": "backends", "Unsupported": "backends", "check": "check",
    "CheckResult": "check", "Outcome": "check", "diagnose": "diagnosis",
    "reference_vjp": "gradients", "gradient_bounds": "gradients", "Gradients": "gradients",
}


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
    globals()[name] = value
    return value


class _Package(types.ModuleType):
    def __setattr__(self, name: str, value) -> None:
        # importing harness.check or harness.reference binds the submodule here; the package's
        # name is the function of the same name, as the public API has always had it
        if isinstance(value, types.ModuleType) and _PUBLIC.get(name) == name:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __dir__():
    return sorted([*globals(), *_PUBLIC])


__all__ = [
    "ConvSpec", "make_inputs", "reference", "available_backends", "run_backend", "backend_vjp",
    "Unsupported", "check", "CheckResult", "Outcome", "diagnose",
    "reference_vjp", "gradient_bounds", "Gradients",
]
__version__ = "0.1.0"
