"""What every backend shares: the core that turns a spec into one call value,
declared refusals, and Unsupported.

An adapter says only what differs about its framework: the layout it runs a
spec in, the padding its convolution takes natively, its weight order, how
to transpose and pad a variable, the convolution call itself (and the
transposed one, with its crop), and how NumPy arrays go in and come out.
``plan`` puts the transposes and pads around the call, once for every
adapter, and ``Backend.run`` runs the value it built.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import re
import sys
from typing import Any, Callable

import numpy as np

from ..calls import Apply, Call, Rendered, Setting, Step, applied, renamed
from ..devices import CPU, Device
from ..gradients import Gradients
from ..layouts import to_channels_first_axes, to_channels_last_axes, weight_to_spatial_first_axes
from ..spec import ConvSpec


@dataclasses.dataclass(frozen=True)
class Refusal:
    """A valid spec that a framework is known to refuse, and how it says so."""

    name: str
    applies: Callable[[ConvSpec], bool]
    pattern: str  # regular expression searched in the framework's message
    reason: str
    example: dict  # ConvSpec fields of a spec that shows the refusal, for its verification test
    # Whether this machine runs the code path that refuses ``spec`` (the framework's version, its
    # switches such as oneDNN, the CPU): where it does, the example must be refused, else computed.
    present: Callable[[ConvSpec], bool] = lambda spec: True

    @property
    def probed(self) -> bool:
        """Whether ``present`` probes the machine (else the refusal shows everywhere): a
        probed refusal is a kernel missing here, exact where its probe says so."""
        return self.present is not Refusal.present

    def matches(self, spec: ConvSpec, message: str) -> bool:
        """Whether this refusal applies to ``spec`` and its pattern is found in the framework's ``message``."""
        return self.applies(spec) and re.search(self.pattern, message) is not None


@dataclasses.dataclass(frozen=True)
class Crash:
    """A valid spec on which the framework kills its own process (an abort, a
    segfault) instead of raising: ``check`` runs the backend in a child process
    wherever one applies, so the crash is an outcome and the caller lives."""

    name: str
    applies: Callable[[ConvSpec], bool]
    reason: str
    example: dict  # ConvSpec fields of a spec that kills the process, for its verification test


class NoForm(Exception):
    """A framework has no call for a valid spec (no groups argument, no padding mode, no
    autograd): raised by the adapter itself, declared as a refusal where it can happen."""


ON_DEVICE = Refusal(
    "device",
    lambda spec: True,
    r"computes on the CPU only|sees no CUDA device|has no GPU|sees no GPU \d+",
    "this backend cannot compute on the device asked for",
    dict(layout="NCW", in_channels=1, out_channels=1, spatial=2, kernel=1),  # on a CUDA device
)


def no_autodiff(name: str, reason: str) -> Refusal:
    """The gradient refusal of a backend that has no automatic differentiation (its
    ``differentiate`` is the base's, which raises "has no autodiff"): every spec, for ``reason``."""
    return Refusal(name, lambda spec: True, r"has no autodiff", reason,
                   dict(layout="NCW", in_channels=1, out_channels=1, spatial=3, kernel=2))


class Unsupported(Exception):
    """The framework refused a valid spec in a way its backend declares."""

    def __init__(self, backend: str, refusal: Refusal, message: str, call: Rendered | None = None):
        super().__init__(f"{backend} refuses this spec ({refusal.reason}): {message}")
        self.backend = backend
        self.refusal = refusal
        self.framework_message = message
        self.call = call or Rendered()  # the call that was refused


def run_call(planned: Call, x, w, b, namespace: dict, dy=None):
    """A planned call run from NumPy ``x, w, b`` (and ``dy``, for a gradient call) to its
    result: ``y``, or a gradient call's Gradients; its names looked up in ``namespace``."""
    return result_of(planned, planned.run({"x": x, "w": w, "b": b, "dy": dy}, namespace))


def result_of(planned: Call, variables: dict):
    """What a call computed, from the variables it bound: ``y``, or Gradients."""
    if planned.results == ("y",):
        return variables["y"]
    return Gradients(*(variables[name] for name in planned.results))


def gradient_results(spec: ConvSpec) -> tuple[str, ...]:
    """The names a gradient call binds: ``dx, dw``, and ``db`` with a bias."""
    return ("dx", "dw", "db") if spec.bias else ("dx", "dw")


def release(version: str) -> tuple[int, ...]:
    """A release string as numbers to compare: "2.13.0+cpu" -> (2, 13, 0)."""
    return tuple(int(part) for part in re.findall(r"\d+", version.split("+")[0])[:3])


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name where it has none)."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def tensor_names(spec: ConvSpec) -> tuple[str, ...]:
    """The names of the call's tensors: ``x, w`` and ``b`` where the spec has a bias."""
    return ("x", "w", "b") if spec.bias else ("x", "w")


def spatial_padding_is_symmetric(spec: ConvSpec) -> bool:
    """Whether every spatial axis is padded as much before as after."""
    return all(before == after for before, after in spec.explicit_padding)


def layout_axes(source: str, target: str) -> tuple[int, ...]:
    """The permutation from one channel order of a layout to the other."""
    rank = len(source) - 2
    return to_channels_last_axes(rank) if target.endswith("C") else to_channels_first_axes(rank)


@dataclasses.dataclass(frozen=True)
class Attempt:
    """One run of a backend on one spec: its result (a gradient call's: Gradients), or
    the error it raised (and the declared refusal that error is); the call, where one was made."""

    result: np.ndarray | Gradients | None = None
    call: Rendered | None = None
    error: Exception | None = None
    refusal: Refusal | None = None


class Backend:
    """Base of the framework adapters: the framework's differences as small
    methods; ``plan`` and ``run`` are the same for all of them.

    A backend you write by hand, without a call value (a port under test),
    may instead override ``_run(spec, x, w, b, script)``: record each line of
    code with ``script(line)`` (``script.conv(line)`` for the convolution) and
    return the result in ``spec.layout``.
    """

    name: str = ""
    module: str = ""  # the framework's import name
    imports: tuple[str, ...] = ()  # the lines that bind what ``namespace`` returns
    refusals: tuple[Refusal, ...] = ()
    crashes: tuple[Crash, ...] = ()  # specs on which the framework kills its process
    gradient_refusals: tuple[Refusal, ...] = ()  # what the framework's autodiff refuses (gradient calls only)
    autodiff_imports: tuple[str, ...] = ()  # what a gradient call imports besides ``imports_for``
    weights_spatial_first = False  # the framework takes (*kernel, in/groups, out), not (out, in/groups, *kernel)
    no_padding = "valid"  # the convolution's padding argument once the input is padded
    native_padding_modes = False  # whether padding_argument may be asked for a padding mode other than zeros
    own_process = False  # computes in a process of its own: ``start`` sends the call there at once

    def load(self) -> None:
        """Import the framework now (a sweep does this before its clock starts)."""
        importlib.import_module(self.module)

    def version(self) -> str:
        """The framework's version, as its module reports it (importing it)."""
        self.load()  # the adapter's own import, with its settings
        return str(getattr(sys.modules[self.module], "__version__", "unknown"))

    def crash(self, spec: ConvSpec) -> Crash | None:
        """The declared crash that ``spec`` meets here, if any."""
        return next((crash for crash in self.crashes if crash.applies(spec)), None)

    def message(self, exc: BaseException) -> str:
        """The framework's own words for an error, on one line."""
        return first_line(exc)

    # -- what differs between frameworks ---------------------------------------------

    def namespace(self) -> dict:
        """The modules the call's dotted names start from, as ``imports`` binds them."""
        return {"np": np, self.module: importlib.import_module(self.module)}

    def imports_for(self, spec: ConvSpec) -> tuple[str, ...]:
        """The import lines the call of ``spec`` needs (the adapter's own by default)."""
        return self.imports

    def run_layout(self, spec: ConvSpec) -> str:
        """The layout the convolution runs in; the core transposes around it."""
        return spec.layout

    def transpose_reason(self, spec: ConvSpec, layout: str) -> str:
        """The note shown where ``spec.layout`` is transposed to ``layout`` around the call."""
        return f"{spec.layout} is transposed to {layout} around the call"

    def padding_argument(self, spec: ConvSpec, layout: str):
        """The convolution's padding argument, or None where a pad must come first
        (the core pads first for every padding mode but zeros unless
        ``native_padding_modes``)."""
        return spec.padding

    def notes(self, spec: ConvSpec) -> tuple[str, ...]:
        """What the call of ``spec`` adds to its rendered form beside the layout note (none by default)."""
        return ()

    def to_framework(self, spec: ConvSpec) -> tuple[Step, ...]:
        """Steps that turn NumPy ``x, w, b`` into the framework's values."""
        return ()

    def to_numpy(self, spec: ConvSpec) -> tuple[Step, ...]:
        """Steps that turn the result ``y`` into a NumPy array of the spec's dtype."""
        return ()

    def transpose(self, name: str, axes: tuple[int, ...]) -> Apply:
        """The call that permutes ``name`` by ``axes`` (none where every layout runs natively)."""
        raise TypeError(f"{self.name} runs every layout natively: nothing to transpose")

    def pad(self, name: str, spec: ConvSpec, layout: str) -> tuple[Apply, ...]:
        """The calls that pad ``name`` by ``spec.explicit_padding`` in ``spec.padding_mode``,
        each applied to the result of the one before."""
        raise TypeError(f"{self.name} takes every padding natively: nothing to pad")

    def convolution(self, spec: ConvSpec, layout: str, padding) -> tuple[tuple[Step, ...], int]:
        """The steps of the convolution (bias included) from ``x, w, b`` to ``y``,
        and the index of the step that calls the framework's convolution."""
        raise TypeError(f"{type(self).__name__} defines neither convolution nor _run")

    def convolution_transpose(self, spec: ConvSpec, layout: str) -> tuple[tuple[Step, ...], int]:
        """The same for a transposed spec: weights ``(in, out/groups, *kernel)``
        (or spatial first), the crop and ``explicit_output_padding`` included."""
        raise TypeError(f"{type(self).__name__} has no transposed convolution")

    def differentiate(self, spec: ConvSpec, body: tuple[Step, ...]) -> tuple[tuple[Step, ...], int]:
        """The steps that run the forward ``body`` (``x, w, b`` to ``y``) under the framework's
        autodiff and pull ``dy`` back to ``dx, dw`` (and ``db``, with a bias) in the order of
        the inputs ``x, w, b`` as they entered the body; and the index of the step that
        calls the autodiff. NoForm where the framework has none."""
        raise NoForm(f"{self.name} has no autodiff")

    def execute(self, planned: Call, x, w, b, dy=None):
        """Run the ``planned`` call on NumPy inputs: ``y`` in ``spec.layout``, or a gradient
        call's Gradients at ``dy``."""
        namespace = self.namespace()
        with applied(planned.settings, namespace):
            return run_call(planned, x, w, b, namespace, dy)

    def place(self, spec: ConvSpec, device: Device) -> tuple[Step, ...]:
        """Steps that put the framework's inputs on ``device`` (none for the CPU);
        NoForm where this backend cannot compute there."""
        if device.accelerator:
            raise NoForm(f"{self.name} computes on the CPU only")
        return ()

    def unplace(self, spec: ConvSpec, device: Device) -> tuple[Step, ...]:
        """Steps that bring the result back from ``device`` before it becomes NumPy."""
        return ()

    def scope(self, device: Device) -> Apply | None:
        """The context manager that puts the framework's work on ``device``, where the
        framework places work that way (TensorFlow's ``tf.device``)."""
        return None

    def float32_settings(self) -> tuple[Setting, ...]:
        """The switches that make float32 convolutions compute in float32 where the
        framework's default may not (TF32 on a GPU's tensor cores)."""
        return ()

    def default_precision(self, spec: ConvSpec, device: Device) -> str:
        """What the framework's default computes a ``spec.dtype`` conv in on ``device``:
        "tf32" for float32 on tensor cores (compute capability 8.0 on) while the
        framework's TF32 switch is on, as it is by default; else the dtype itself."""
        if spec.dtype != "float32" or not device.accelerator or self.capability(device) < (8, 0):
            return spec.dtype
        return "tf32" if self.allows_tf32() else "float32"

    def capability(self, device: Device) -> tuple[int, ...]:
        """The CUDA compute capability of ``device``, as the framework reports it."""
        return (0, 0)

    def allows_tf32(self) -> bool:
        """Whether the framework's switch lets float32 convolutions run as TF32 now."""
        return False

    # -- the same for every framework ----------------------------------------------

    def plan(self, spec: ConvSpec, *, device: Device = CPU, precision: str = "default") -> Call:
        """The one call value for ``spec``: weight order, layout and padding steps
        around the adapter's convolution, with the conversions in and out, the inputs
        put on ``device``, and (``precision`` "float32", for a float32 spec) the
        switches that keep float32 convolutions in float32."""
        body: list[Step] = []
        notes = list(self.notes(spec))
        if self.weights_spatial_first:
            axes = weight_to_spatial_first_axes(spec.rank)
            order = ("(in, out/groups, *kernel) -> (*kernel, out/groups, in)" if spec.transposed
                     else "(out, in/groups, *kernel) -> (*kernel, in/groups, out)")
            body.append(Step("w", self.transpose("w", axes), order))
        layout = self.run_layout(spec)
        transposed = layout != spec.layout
        if transposed:
            body.append(Step("x", self.transpose("x", layout_axes(spec.layout, layout)), f"{spec.layout} -> {layout}"))
            notes.append(self.transpose_reason(spec, layout))
        if spec.transposed:
            steps, native = self.convolution_transpose(spec, layout)
        else:
            native_mode = self.native_padding_modes or not spec.mode_fills
            padding = self.padding_argument(spec, layout) if native_mode else None
            if padding is None:
                pads = ", ".join(f"({before}, {after})" for before, after in spec.explicit_padding)
                mode = "" if spec.padding_mode == "zeros" else f" {spec.padding_mode}"
                first, *rest = self.pad("x", spec, layout)
                body += [Step("x", first, f"padding {pads}{mode} first: the call cannot say it"),
                         *(Step("x", pad) for pad in rest)]
                padding = self.no_padding
            steps, native = self.convolution(spec, layout, padding)
        native += len(body)
        body += steps
        if transposed:
            body.append(Step("y", self.transpose("y", layout_axes(layout, spec.layout)), f"back to {spec.layout}"))
        refusals = tuple(refusal.pattern for refusal in self.refusals if refusal.applies(spec))
        settings = self.float32_settings() if precision == "float32" and spec.dtype == "float32" else ()
        return Call(self.imports_for(spec), self.to_framework(spec) + self.place(spec, device), tuple(body),
                    self.unplace(spec, device) + self.to_numpy(spec), native, transposed, tuple(notes), refusals,
                    settings, self.scope(device))

    def plan_gradient(self, spec: ConvSpec, *, device: Device = CPU, precision: str = "default") -> Call:
        """The call value of ``spec``'s gradient: the call ``plan`` builds, its body run under
        the framework's autodiff (``differentiate``), the cotangent ``dy`` converted and
        placed as ``x`` is, and ``dx, dw`` (and ``db``) brought back as ``y`` is."""
        forward = self.plan(spec, device=device, precision=precision)
        body, native = self.differentiate(spec, forward.body)
        results = gradient_results(spec)
        cotangent = tuple(renamed(step, "x", "dy") for step in forward.inputs if step.target == "x")
        outputs = tuple(renamed(step, "y", name) for name in results for step in forward.outputs)
        refusals = forward.refusals + tuple(r.pattern for r in self.gradient_refusals if r.applies(spec))
        return dataclasses.replace(forward, imports=forward.imports + self.autodiff_imports,
                                   inputs=forward.inputs + cotangent, body=body, outputs=outputs,
                                   native=native, refusals=refusals, results=results)

    def start(self, planned: Call, x, w, b, dy=None) -> Callable[[], Any]:
        """``execute`` in two halves: the returned function gives what ``execute`` gives, or
        raises what it raises. Here the call runs when that function is called; a backend
        that computes in a process of its own (Keras' worker) sends it there at once, so
        that the harness's own work (the reference, the other backends) overlaps it."""
        return functools.partial(self.execute, planned, x, w, b, *(() if dy is None else (dy,)))

    def begin(self, spec: ConvSpec, x, w, b=None, *, device: Device = CPU,
              precision: str = "default") -> Callable[[], Attempt]:
        """``attempt`` in two halves: ``spec`` planned and started now (``start``), its
        Attempt given by the returned function, which never raises."""
        if type(self)._run is not Backend._run:
            return functools.partial(self._hand_written, spec, x, w, b, device)
        return self._begin(spec, lambda: self.plan(spec, device=device, precision=precision), (x, w, b),
                           self.refusals, device)

    def attempt(self, spec: ConvSpec, x, w, b=None, *, device: Device = CPU, precision: str = "default") -> Attempt:
        """Plan and run ``spec``; whatever the framework raises is returned, not raised."""
        return self.begin(spec, x, w, b, device=device, precision=precision)()

    def begin_vjp(self, spec: ConvSpec, x, w, b, dy, *, device: Device = CPU,
                  precision: str = "default") -> Callable[[], Attempt]:
        """``vjp_attempt`` in two halves, as ``begin`` is ``attempt``'s."""
        def plan() -> Call:
            if type(self)._run is not Backend._run:
                raise NoForm(f"{self.name} is written by hand, without a call value: it has no gradient call")
            return self.plan_gradient(spec, device=device, precision=precision)

        return self._begin(spec, plan, (x, w, b, dy), self.refusals + self.gradient_refusals, device)

    def vjp_attempt(self, spec: ConvSpec, x, w, b, dy, *, device: Device = CPU,
                    precision: str = "default") -> Attempt:
        """Plan and run the gradient of ``spec`` at ``dy`` (``plan_gradient``): the result is
        Gradients; whatever the framework raises is returned, not raised, as by ``attempt``,
        a declared refusal of its forward pass or of its autodiff named."""
        return self.begin_vjp(spec, x, w, b, dy, device=device, precision=precision)()

    def _begin(self, spec: ConvSpec, plan: Callable[[], Call], inputs: tuple, declared: tuple[Refusal, ...],
               device: Device) -> Callable[[], Attempt]:
        """The call ``plan`` makes, started on ``inputs``; the function that gives its Attempt."""
        made = None
        try:
            made = plan()
            finish = self.start(made, *inputs)
        except Exception as exc:
            failed = self._failed(spec, exc, made, declared, device)
            return lambda: failed

        def attempt() -> Attempt:
            try:
                return Attempt(finish(), made.rendered())
            except Exception as exc:
                return self._failed(spec, exc, made, declared, device)

        return attempt

    def _hand_written(self, spec: ConvSpec, x, w, b, device: Device) -> Attempt:
        """The attempt of a hand-written backend (``_run``), its lines recorded as it runs them."""
        made = None
        try:
            made = Script(self.imports_for(spec))
            self.place(spec, device)  # the CPU only, as by default
            return Attempt(self._run(spec, x, w, b, made), made.rendered())
        except Exception as exc:
            return self._failed(spec, exc, made, self.refusals, device)

    def _failed(self, spec: ConvSpec, exc: Exception, made, declared: tuple[Refusal, ...], device: Device) -> Attempt:
        declared += (ON_DEVICE,) if device.accelerator else ()
        refusal = next((r for r in declared if r.matches(spec, str(exc))), None)
        return Attempt(None, None if made is None else made.rendered(), exc, refusal)

    def _raised(self, attempt: Attempt):
        """An attempt's result and call; a declared refusal raises Unsupported, any other error itself."""
        if attempt.refusal is not None:
            raise Unsupported(self.name, attempt.refusal, self.message(attempt.error), attempt.call) from attempt.error
        if attempt.error is not None:
            raise attempt.error
        return attempt.result, attempt.call

    def run(self, spec: ConvSpec, x, w, b=None) -> tuple[np.ndarray, Rendered]:
        """Run ``spec``: the result in ``spec.layout`` and the call that made it.
        A declared refusal raises Unsupported; any other error propagates unchanged."""
        return self._raised(self.attempt(spec, x, w, b))

    def gradients(self, spec: ConvSpec, x, w, b, dy) -> tuple[Gradients, Rendered]:
        """The gradient of ``spec`` at ``dy`` (shaped like its output) by the framework's own
        autodiff, and the call that made it (``plan_gradient``). A declared refusal, of the
        forward pass or of the autodiff, raises Unsupported; any other error propagates."""
        return self._raised(self.vjp_attempt(spec, x, w, b, dy))

    def _run(self, spec: ConvSpec, x, w, b, script: Script) -> np.ndarray:
        """Hand-written backends only (see the class docstring); never called on this class."""
        raise TypeError(f"{type(self).__name__}: a hand-written backend overrides _run")


class Script:
    """The lines a hand-written backend records as it runs them."""

    def __init__(self, imports: tuple[str, ...] = ()) -> None:
        self.imports, self.lines, self.native = imports, [], ""

    def __call__(self, line: str) -> None:
        self.lines.append(line)

    def conv(self, line: str) -> None:
        """Record the line that calls the convolution."""
        self.native = line
        self(line)

    def rendered(self) -> Rendered:
        """The lines recorded so far, as the call's rendered form."""
        return Rendered(imports=self.imports, body=tuple(self.lines), native=self.native)


class OneLayout:
    """A mixin (before ``Backend``) for a framework that convolves in one layout only:
    ``only_layout`` maps a spec's layout to it (``layouts.channels_first_layout`` or
    ``channels_last_layout``, as a staticmethod), ``layout_note`` says so, formatted with
    ``layout`` and ``run``, and ``transposer`` names the function that permutes an array."""

    only_layout: Callable[[str], str]
    layout_note: str
    transposer: str

    def run_layout(self, spec: ConvSpec) -> str:
        """The one layout the framework convolves in."""
        return self.only_layout(spec.layout)

    def transpose_reason(self, spec: ConvSpec, layout: str) -> str:
        """``layout_note`` for ``spec``."""
        return self.layout_note.format(layout=spec.layout, run=layout)

    def transpose(self, name: str, axes: tuple[int, ...]) -> Apply:
        """``transposer(name, axes)``."""
        from ..calls import Var, call

        return call(self.transposer, Var(name), axes)
