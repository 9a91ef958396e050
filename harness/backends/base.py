"""What every backend shares: the call it made, declared refusals, Unsupported.

A backend runs one spec in its framework and returns the result in the
spec's layout together with the exact native call it used, as code.
"""

from __future__ import annotations

import abc
import dataclasses
import re
from typing import Callable

import numpy as np

from ..spec import ConvSpec


@dataclasses.dataclass(frozen=True)
class Call:
    """The native code a backend ran, in the order it ran it."""

    code: str
    native: str = ""  # the one line that calls the framework's convolution
    transposed: bool = False  # the adapter permuted layouts around the native call
    notes: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Refusal:
    """A valid spec that a framework is known to refuse, and how it says so."""

    name: str
    applies: Callable[[ConvSpec], bool]
    pattern: str  # regular expression searched in the framework's message
    reason: str
    example: dict  # ConvSpec fields of a spec that shows the refusal, for its verification test

    def matches(self, spec: ConvSpec, message: str) -> bool:
        return self.applies(spec) and re.search(self.pattern, message) is not None


class Unsupported(Exception):
    """The framework refused a valid spec in a way its backend declares."""

    def __init__(self, backend: str, refusal: Refusal, message: str, call: Call | None = None):
        super().__init__(f"{backend} refuses this spec ({refusal.reason}): {message}")
        self.backend = backend
        self.refusal = refusal
        self.framework_message = message
        self.call = call or Call("")  # the code up to and including the refused call


def first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


class Backend(abc.ABC):
    """Base of the framework adapters; subclasses implement ``_run``."""

    name: str = ""
    module: str = ""  # the framework's import name
    refusals: tuple[Refusal, ...] = ()
    imports: tuple[str, ...] = ()  # what a standalone script needs before the call's code

    def load(self) -> None:
        """Import the framework now (a sweep does this before its clock starts)."""
        import importlib

        importlib.import_module(self.module)

    def version(self) -> str:
        import sys

        self.load()  # the adapter's own import, with its settings
        return str(getattr(sys.modules[self.module], "__version__", "unknown"))

    def run(self, spec: ConvSpec, x, w, b=None) -> tuple[np.ndarray, Call]:
        """Run ``spec``; raise Unsupported for a declared refusal, else re-raise."""
        script = Script()
        try:
            return self._run(spec, x, w, b, script), script.call()
        except Exception as exc:
            message = str(exc)
            for refusal in self.refusals:
                if refusal.matches(spec, message):
                    raise Unsupported(self.name, refusal, self.message(exc), script.call()) from exc
            raise

    def tensor_lines(self, spec: ConvSpec) -> list[str]:
        """Lines of a standalone script that turn NumPy ``x, w, b`` into the call's inputs."""
        return []

    def result_for(self, spec: ConvSpec) -> str:
        """The line of a standalone script that turns the call's ``y`` into a NumPy array."""
        return ""

    def message(self, exc: BaseException) -> str:
        """The framework's own words for an error, on one line."""
        return first_line(exc)

    @abc.abstractmethod
    def _run(self, spec: ConvSpec, x, w, b, script: Script) -> np.ndarray:
        """Call the framework; return the result in ``spec.layout``.

        Each line of framework code goes to ``script`` before it runs, so a
        refused call is recorded too.
        """


class Script:
    """Collects the lines of a Call while the adapter executes them."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.native = ""
        self.notes: list[str] = []
        self.transposed = False

    def __call__(self, line: str) -> None:
        self.lines.append(line)

    def conv(self, line: str) -> None:
        """Record the line that calls the framework's convolution."""
        self.native = line
        self(line)

    def note(self, text: str) -> None:
        self.notes.append(text)

    def call(self) -> Call:
        return Call("\n".join(self.lines), self.native, self.transposed, tuple(self.notes))


def tensor_names(spec: ConvSpec) -> str:
    return "x, w, b" if spec.bias else "x, w"


def spatial_padding_is_symmetric(spec: ConvSpec) -> bool:
    return all(before == after for before, after in spec.explicit_padding)
