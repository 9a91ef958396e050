"""convharness: one convolution spec, checked across PyTorch, TensorFlow and JAX
against a float64 NumPy reference. Importing it imports no framework."""

from .backends import Unsupported, available_backends, run_backend
from .check import CheckResult, Outcome, check
from .diagnosis import diagnose
from .inputs import make_inputs
from .reference import reference
from .spec import ConvSpec

__all__ = [
    "ConvSpec", "make_inputs", "reference", "available_backends", "run_backend",
    "Unsupported", "check", "CheckResult", "Outcome", "diagnose",
]
__version__ = "0.1.0"
