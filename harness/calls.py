"""Framework calls as values: an adapter builds one ``Call``, the core runs it,
and explain, the reproducer and the report render that same value, so what is
shown is what ran.

A call is a few lines of ``name = function(arguments)``: ``Apply`` names the
function by its dotted path as a user writes it (``torch.nn.functional.conv2d``,
or ``x.permute`` for a method of a variable), ``Var`` a variable, ``Ref`` a
module attribute used as a value (``torch.bfloat16``); anything else is a
literal rendered with ``repr``. A gradient call nests steps: ``Block`` runs
some inside a ``with`` (a GradientTape), ``Define`` makes some a function (for
``jax.vjp``), and a target may unpack (``dx, dw, db = ...``). A ``Setting`` is a framework switch in force
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


def as_code(value) -> str:
    """``value`` as Python source: what a user pastes."""
    if isinstance(value, Var):
        return value.name
    if isinstance(value, Ref):
        return value.path
    if isinstance(value, Apply):
        parts = [as_code(a) for a in value.args] + [f"{k}={as_code(v)}" for k, v in value.kwargs]
        return f"{value.function}({', '.join(parts)})"
    if isinstance(value, Item):
        return f"{as_code(value.value)}[{as_code(value.index)}]"
    if isinstance(value, tuple):
        items = ", ".join(as_code(v) for v in value)
        return f"({items},)" if len(value) == 1 else f"({items})"
    if isinstance(value, list):
        return f"[{', '.join(as_code(v) for v in value)}]"
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


def renamed(value, old: str, new: str):
    """``value`` (a step, or a value in one) with the variable ``old`` called ``new``:
    the cotangent ``dy`` converted as ``x`` is, a gradient brought back as ``y`` is."""
    if isinstance(value, Step):
        return Step(new if value.target == old else value.target, renamed(value.value, old, new), value.comment)
    if isinstance(value, Var):
        return Var(new) if value.name == old else value
    if isinstance(value, Apply):
        head, dot, rest = value.function.partition(".")
        function = f"{new}{dot}{rest}" if head == old else value.function
        return Apply(function, renamed(value.args, old, new), tuple((k, renamed(v, old, new)) for k, v in value.kwargs))
    if isinstance(value, Item):
        return Item(renamed(value.value, old, new), renamed(value.index, old, new))
    if isinstance(value, (tuple, list)):
        return type(value)(renamed(v, old, new) for v in value)
    return value


def _assign(target: str, value, variables: dict) -> None:
    names = [name.strip() for name in target.split(",")]
    if len(names) == 1:
        variables[target] = value
    else:
        variables.update(zip(names, value, strict=True))


@dataclasses.dataclass(frozen=True)
class Step:
    """``target = value`` (no target: the value is called for its effect); a target
    of names separated by commas unpacks the value."""

    target: str | None
    value: Apply
    comment: str = ""

    def as_code(self) -> str:
        """This step as one line of Python source."""
        line = as_code(self.value) if self.target is None else f"{self.target} = {as_code(self.value)}"
        return f"{line}  # {self.comment}" if self.comment else line

    def run(self, variables: dict, modules: dict) -> None:
        """Evaluate the value and bind the target (or its names) in ``variables``."""
        result = evaluate(self.value, variables, modules)
        if self.target is not None:
            _assign(self.target, result, variables)


def _indented(steps) -> list[str]:
    return ["    " + line for step in steps for line in step.as_code().splitlines()]


@dataclasses.dataclass(frozen=True)
class Block:
    """``with context as name:`` around ``steps`` (a tf.GradientTape recording them)."""

    context: Apply
    name: str
    steps: tuple
    comment: str = ""

    def as_code(self) -> str:
        """The ``with`` line and its steps indented, as Python source."""
        head = f"with {as_code(self.context)} as {self.name}:" + (f"  # {self.comment}" if self.comment else "")
        return "\n".join([head, *_indented(self.steps)])

    def run(self, variables: dict, modules: dict) -> None:
        """The steps run inside the context, which is bound to ``name``."""
        with evaluate(self.context, variables, modules) as bound:
            variables[self.name] = bound
            run_steps(self.steps, variables, modules)


@dataclasses.dataclass(frozen=True)
class Define:
    """``def name(*params): steps; return result``: steps as a function of some of their
    variables (what ``jax.vjp`` differentiates); it sees the variables bound before it."""

    name: str
    params: tuple[str, ...]
    steps: tuple
    result: str = "y"
    comment: str = ""

    def as_code(self) -> str:
        """The ``def`` line, its steps indented and the ``return``, as Python source."""
        head = f"def {self.name}({', '.join(self.params)}):" + (f"  # {self.comment}" if self.comment else "")
        return "\n".join([head, *_indented(self.steps), f"    return {self.result}"])

    def run(self, variables: dict, modules: dict) -> None:
        """Bind ``name`` to the function (its steps run on a copy of the variables, so nothing leaks out)."""
        def function(*args):
            return run_steps(self.steps, {**variables, **dict(zip(self.params, args, strict=True))},
                             modules)[self.result]

        variables[self.name] = function


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

    def as_code(self) -> str:
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
        step.run(variables, modules)
    return variables


@dataclasses.dataclass(frozen=True)
class Call:
    """What a backend runs for one spec, from NumPy ``x, w, b`` to NumPy ``y`` (a
    gradient call: and ``dy``, shaped like ``y``, to ``dx, dw, db``, its ``results``):
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
    results: tuple[str, ...] = ("y",)  # what it computes: y, or a gradient call's dx, dw (and db)

    def within(self, modules: dict):
        """The call's scope, to enter (a context that does nothing where it has none)."""
        return evaluate(self.scope, {}, modules) if self.scope else contextlib.nullcontext()

    def run(self, variables: dict, modules: dict) -> dict:
        """The steps, from the inputs to the outputs, run inside the scope."""
        with self.within(modules):
            return run_steps(self.inputs + self.body + self.outputs, variables, modules)

    def rendered(self) -> Rendered:
        """This call as text (``Rendered``), the form shown, recorded and reproduced."""
        lines = lambda steps: tuple(line for step in steps for line in step.as_code().splitlines())  # noqa: E731
        imports = (*self.imports, *(setting.as_code() for setting in self.settings))
        return Rendered(imports, lines(self.inputs), lines(self.body), lines(self.outputs),
                        self.body[self.native].as_code(), self.transposed, self.notes, self.refusals,
                        as_code(self.scope) if self.scope else "")


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
        """Pasteable after building NumPy ``x, w, b`` (and ``dy``, for a gradient call): imports,
        conversions, the body, back to NumPy."""
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
