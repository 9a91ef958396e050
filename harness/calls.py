"""Framework calls as values: an adapter builds one ``Call``, the core runs it,
and explain, the reproducer and the report render that same value, so what is
shown is what ran.

A call is a few lines of ``name = function(arguments)``: ``Apply`` names the
function by its dotted path as a user writes it (``torch.nn.functional.conv2d``,
or ``x.permute`` for a method of a variable), ``Var`` a variable, ``Ref`` a
module attribute used as a value (``torch.bfloat16``); anything else is a
literal rendered with ``repr``. A ``Setting`` is a framework switch in force
while the call runs (``torch.backends.cudnn.allow_tf32 = False``), rendered
after the imports and put back afterwards. A call's ``scope`` is a context
manager it runs inside (``tf.device('/GPU:0')``), rendered as a ``with`` block.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class Var:
    """A variable of the call, by name (``x``, ``w``, a step's target)."""

    name: str


@dataclasses.dataclass(frozen=True)
class Ref:
    """A module attribute by its dotted path, as a user writes it (``torch.float32``)."""

    path: str


@dataclasses.dataclass(frozen=True)
class Apply:
    """``function(*args, **kwargs)``: the function by its dotted path, its arguments values too."""

    function: str
    args: tuple = ()
    kwargs: tuple[tuple[str, Any], ...] = ()


@dataclasses.dataclass(frozen=True)
class Item:
    """``value[index]``."""

    value: Any
    index: Any


def call(function: str, *args, **kwargs) -> Apply:
    """``function(*args, **kwargs)`` as a value (keyword order is kept)."""
    return Apply(function, args, tuple(kwargs.items()))


def render(value) -> str:
    """``value`` as Python source: what a user pastes."""
    if isinstance(value, Var):
        return value.name
    if isinstance(value, Ref):
        return value.path
    if isinstance(value, Apply):
        parts = [render(a) for a in value.args] + [f"{k}={render(v)}" for k, v in value.kwargs]
        return f"{value.function}({', '.join(parts)})"
    if isinstance(value, Item):
        return f"{render(value.value)}[{render(value.index)}]"
    if isinstance(value, tuple):
        items = ", ".join(render(v) for v in value)
        return f"({items},)" if len(value) == 1 else f"({items})"
    if isinstance(value, list):
        return f"[{', '.join(render(v) for v in value)}]"
    return repr(value)


def _resolve(path: str, variables: dict, modules: dict):
    head, *rest = path.split(".")
    value = variables[head] if head in variables else modules[head]
    for name in rest:
        value = getattr(value, name)
    return value


def evaluate(value, variables: dict, modules: dict):
    """``value`` computed, its names looked up in ``variables`` and its paths in ``modules``."""
    if isinstance(value, Var):
        return variables[value.name]
    if isinstance(value, Ref):
        return _resolve(value.path, variables, modules)
    if isinstance(value, Apply):
        function = _resolve(value.function, variables, modules)
        args = [evaluate(a, variables, modules) for a in value.args]
        return function(*args, **{k: evaluate(v, variables, modules) for k, v in value.kwargs})
    if isinstance(value, Item):
        return evaluate(value.value, variables, modules)[evaluate(value.index, variables, modules)]
    if isinstance(value, (tuple, list)):
        return type(value)(evaluate(v, variables, modules) for v in value)
    return value


@dataclasses.dataclass(frozen=True)
class Step:
    """``target = value`` (no target: the value is called for its effect)."""

    target: str | None
    value: Apply
    comment: str = ""

    def render(self) -> str:
        """This step as one line of Python source."""
        line = render(self.value) if self.target is None else f"{self.target} = {render(self.value)}"
        return f"{line}  # {self.comment}" if self.comment else line


@dataclasses.dataclass(frozen=True)
class Setting:
    """A framework switch set before the call: the attribute ``write = value``, or the
    setter ``write(key, value)`` / ``write(value)``; ``read`` (a function where
    ``read_called``) gives the value it had, which ``applied`` puts back afterwards."""

    write: str
    value: Any
    read: str = ""
    key: str | None = None
    function: bool = False  # write is a setter function, not an attribute
    read_called: bool = False

    def render(self) -> str:
        """The line that sets this switch, as a user writes it."""
        if not self.function:
            return f"{self.write} = {self.value!r}"
        return f"{self.write}({'' if self.key is None else repr(self.key) + ', '}{self.value!r})"

    def _set(self, value, modules: dict) -> None:
        if self.function:
            setter = _resolve(self.write, {}, modules)
            setter(*(() if self.key is None else (self.key,)), value)
        else:
            owner, name = self.write.rsplit(".", 1)
            setattr(_resolve(owner, {}, modules), name, value)

    def _get(self, modules: dict):
        value = _resolve(self.read or self.write, {}, modules)
        return value() if self.read_called else value


@contextlib.contextmanager
def applied(settings: tuple[Setting, ...], modules: dict):
    """The settings in force inside the block, the values they had put back after it."""
    before = [setting._get(modules) for setting in settings]
    try:
        for setting in settings:
            setting._set(setting.value, modules)
        yield
    finally:
        for setting, value in reversed(list(zip(settings, before))):
            setting._set(value, modules)


def run_steps(steps: tuple[Step, ...], variables: dict, modules: dict) -> dict:
    """Run ``steps`` in order, binding each target in ``variables``, which is returned."""
    for step in steps:
        result = evaluate(step.value, variables, modules)
        if step.target is not None:
            variables[step.target] = result
    return variables


@dataclasses.dataclass(frozen=True)
class Call:
    """What a backend runs for one spec, from NumPy ``x, w, b`` to NumPy ``y``:
    its ``imports``, the conversions of the ``inputs``, the ``body`` (layout and
    padding steps around the convolution, which is ``body[native]``) and the
    conversion of the ``outputs``."""

    imports: tuple[str, ...]
    inputs: tuple[Step, ...]
    body: tuple[Step, ...]
    outputs: tuple[Step, ...]
    native: int
    transposed: bool = False  # the layout was permuted around the native call
    notes: tuple[str, ...] = ()
    refusals: tuple[str, ...] = ()  # message patterns of the declared refusals that apply to the spec
    settings: tuple[Setting, ...] = ()  # framework switches in force for the call (a precision mode)
    scope: Apply | None = None  # a context manager the steps run inside (a TensorFlow device)

    def within(self, modules: dict):
        """The call's scope, to enter (a context that does nothing where it has none)."""
        return evaluate(self.scope, {}, modules) if self.scope else contextlib.nullcontext()

    def run(self, variables: dict, modules: dict) -> dict:
        """The steps, from the inputs to the outputs, run inside the scope."""
        with self.within(modules):
            return run_steps(self.inputs + self.body + self.outputs, variables, modules)

    def rendered(self) -> Rendered:
        """This call as text (``Rendered``), the form shown, recorded and reproduced."""
        lines = lambda steps: tuple(step.render() for step in steps)  # noqa: E731
        imports = (*self.imports, *(setting.render() for setting in self.settings))
        return Rendered(imports, lines(self.inputs), lines(self.body), lines(self.outputs),
                        self.body[self.native].render(), self.transposed, self.notes, self.refusals,
                        render(self.scope) if self.scope else "")


@dataclasses.dataclass(frozen=True)
class Rendered:
    """A call as text, the form records keep: enough to show it and to write a
    standalone script, without the backend that ran it."""

    imports: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()
    body: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    native: str = ""
    transposed: bool = False
    notes: tuple[str, ...] = ()
    refusals: tuple[str, ...] = ()
    scope: str = ""  # the context manager the steps run inside, if any

    @property
    def code(self) -> str:
        """The body: what runs between the framework's inputs and its output."""
        return "\n".join(self.scoped(self.body))

    def scoped(self, lines) -> tuple[str, ...]:
        """``lines`` inside the call's ``with`` block, where it has a scope."""
        if not self.scope:
            return tuple(lines)
        return (f"with {self.scope}:", *("    " + line for line in lines))

    def standalone(self) -> str:
        """Pasteable after building NumPy ``x, w, b``: imports, conversions, the body, back to NumPy."""
        return "\n".join((*self.imports, *self.scoped((*self.inputs, *self.body, *self.outputs))))

    def to_dict(self) -> dict:
        """The rendered call as a JSON object (tuples as lists)."""
        return {field.name: list(value) if isinstance(value := getattr(self, field.name), tuple) else value
                for field in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: dict) -> Rendered:
        """A rendered call from its JSON object; missing keys take their defaults."""
        return cls(**{field.name: tuple(data[field.name]) if isinstance(data.get(field.name), list)
                      else data.get(field.name, field.default) for field in dataclasses.fields(cls)})
