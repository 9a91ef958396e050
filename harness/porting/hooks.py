"""What a framework package's ``models`` module provides (``MODEL_HOOKS``), the defaults of the
optional hooks, and the helpers the modules build their common hooks with."""

from __future__ import annotations

import dataclasses
import importlib
import sys
from types import ModuleType

import numpy as np

REQUIRED_HOOKS = (
    "NAME",  # the framework's name, as ScannedModel.framework
    "KIND",  # what its models are, for messages: "a torch.nn.Module"
    "recognises",  # (model) -> bool, by isinstance against the framework only if already imported
    "scan",  # (model, example, *, name, fold_zero_padding) -> ScannedModel
    "channels_last",  # (model, example, example_last) -> whether the model takes channels-last, None: cannot tell
    "paste_backend",  # () -> the backend whose call a user of this framework can paste
)


def given_as_it_is(array: np.ndarray) -> np.ndarray:
    """``as_input``'s default: the model takes a NumPy array."""
    return array


def no_array_of_its_own(value) -> None:
    """``to_numpy``'s default: the framework has no array type of its own to convert."""
    return None


def not_substituted(model, example, outputs: dict) -> None:
    """``run_substituted``'s default: the convs are not substituted, so a later pair whose input
    differs says the difference may be inherited."""
    return None


def generic_fix(mistake: str, source, target) -> str:
    """``own_fix``'s default: "", the generic fix (it names the spec's fields to change)."""
    return ""


OPTIONAL_HOOKS = {
    "as_input": given_as_it_is,  # (NumPy array) -> what the model takes
    "to_numpy": no_array_of_its_own,  # (value) -> a NumPy array of one of the framework's arrays, None for others
    "run_substituted": not_substituted,  # (model, example, {conv name: output}) -> ({conv name: input}, output)
    "own_fix": generic_fix,  # (mistake, source spec, target spec) -> the fix in the framework's terms
}
MODEL_HOOKS = (*REQUIRED_HOOKS, *OPTIONAL_HOOKS)


@dataclasses.dataclass(frozen=True)
class ModelKind:
    """A framework package's ``models`` module with the default of each optional hook it does not define."""

    module: ModuleType

    def __getattr__(self, hook: str):
        try:
            return getattr(self.module, hook)
        except AttributeError:
            if hook in OPTIONAL_HOOKS:
                return OPTIONAL_HOOKS[hook]
            raise


def instance_of(module: str, attribute: str):
    """A ``recognises`` hook: whether a model is an instance of ``module``'s ``attribute`` (a dotted
    path: "nn.Module"), asked only where ``module`` is already imported (a model of a framework not
    yet imported cannot exist, and importing one to find out would be slow)."""

    def recognises(model) -> bool:
        found = sys.modules.get(module)
        if found is None:
            return False
        for name in attribute.split("."):
            found = getattr(found, name)
        return isinstance(model, found)

    recognises.__doc__ = f"Whether ``model`` is a {module}.{attribute}."
    return recognises


def scanned_by(package: str, function: str):
    """A ``scan`` hook: ``function`` of ``package``'s ``scan`` module, imported at the first scan
    (it imports the framework)."""

    def scan(model, example, *, name: str | None = None, fold_zero_padding: bool = False):
        scanner = getattr(importlib.import_module(f"{package}.scan"), function)
        return scanner(model, example, name=name, fold_zero_padding=fold_zero_padding)

    scan.__doc__ = f"``{package}.scan.{function}``: every convolution of one forward pass."
    return scan
