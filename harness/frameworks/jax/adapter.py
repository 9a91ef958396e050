"""JAX: jax.lax.conv_general_dilated, with dimension_numbers naming the layout.

What is special: nothing about layout, padding or weights (every layout and
padding is native; the neutral weight order (O, I/g, *k) is JAX's "OI..."),
except padding modes (jax.numpy.pad first) and transposed specs, which run
as the forward conv of the input dilated by the stride (lhs_dilation) with
the flipped, in/out-swapped kernel and padding (k-1)*d minus the crop (the
path that has groups and output_padding, which lax.conv_transpose lacks).
A float64 spec needs jax_enable_x64: its call switches it on (a line after
the imports), and only its call. The call's body runs jitted (one
compilation per body and shapes), and compiled programs go to a persistent
cache, so a repeated sweep skips compilation: CONVHARNESS_JAX_CACHE names
its folder (default ~/.cache/convharness/jax; "off" disables it). Both are
in force only while the harness's own JAX work runs (``scoped``): a user's
JAX code in the same process sees its own settings before and after. A
gradient is jax.vjp of the body as a function of x, w and b, jitted whole.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import sys
from pathlib import Path

import numpy as np

from ...calls import Define, Item, Setting, Step, Var, applied, call, run_steps
from ...devices import Device
from ...layouts import bias_broadcast_shape
from ...reference import NUMPY_PAD_MODES
from ...spec import ConvSpec
from ...backends.base import Backend, Crash, NoForm, gradient_results, result_of, tensor_names

CACHE_ENV = "CONVHARNESS_JAX_CACHE"
X64 = 'jax.config.update("jax_enable_x64", True)'  # the line a float64 call adds after its imports


def xla_simplifier_aborts(spec: ConvSpec) -> bool:
    """A transposed spec whose lhs-dilated conv has an axis of stride 2, kernel 2,
    dilation 1, at least 3 inputs and no pads (each window meets one input), and
    another axis whose dilated kernel spans its whole stride-dilated input: the
    class of shapes on which XLA's algebraic simplifier aborts the process."""
    pads = spec.dilated_input_padding
    spans = [(k - 1) * d + 1 >= (n - 1) * s + 1
             for n, k, s, d in zip(spec.spatial, spec.kernel, spec.stride, spec.dilation)]
    return spec.transposed and any(
        k == s == 2 and d == 1 and n >= 3 and pads[i] == (0, 0) and any(spans[:i] + spans[i + 1:])
        for i, (n, k, s, d) in enumerate(zip(spec.spatial, spec.kernel, spec.stride, spec.dilation)))


CRASHES = (
    Crash(
        "xla_lhs_dilation_simplifier_abort",
        xla_simplifier_aborts,
        (
            "jax 0.4.38, 0.6.2, 0.8.3 and 0.10.2 (the version matrix's releases) on the CPU abort the process "
            "(SIGABRT, 'algebraic_simplifier.cc:586] Check failed: ... Window dimensions do not match RHS shape') "
            "compiling jax.lax.conv_general_dilated with lhs_dilation, the call a transposed spec runs as "
            "(flax.nnx.ConvTranspose makes the same call): float32 and float64, 2-D and 3-D, when one axis has "
            "stride 2, kernel 2, dilation 1, at least 3 inputs and no pads on the dilated input (each window meets "
            "one input), and another axis's dilated kernel spans its whole stride-dilated input. A grid of 480 "
            "transposed specs around the example (spatial sizes, kernel, stride, dilation, crop, rank 2 and 3, "
            "float32 and float64) aborted in 48 cases in jax and 32 of its 288 float32 cases in flax, every one "
            "inside this class, which covers 92 (jax) and 62 (flax); keras.jax aborted in none of 288 (Keras pads "
            "a transposed conv its own way). Stride 3 with kernel 3, and 1-D convs (324 cases), never abort. "
            "Found by a 1500-case sweep (seed 77); each release aborts on conv_general_dilated(x, w, (1, 1), "
            "((0, 0), (0, 1)), lhs_dilation=(2, 2)) with x of shape (1, 1, 3, 1) and w (1, 1, 2, 2)."
        ),
        dict(layout="NCHW", in_channels=2, out_channels=1, spatial=(8, 1), kernel=(2, 2), batch=2, stride=(2, 2),
             dilation=(1, 2), padding=((1, 2), (2, 0)), dtype="float64", transposed=True, output_padding=(1, 0)),
    ),
)


def cache_dir() -> str | None:
    value = os.environ.get(CACHE_ENV, str(Path.home() / ".cache" / "convharness" / "jax"))
    return None if value.lower() == "off" else value


@functools.cache
def _jax():
    import jax

    return jax


@functools.cache
def _cache_settings(folder: str | None) -> tuple[Setting, ...]:
    """The persistent cache in ``folder``, every program saved however fast it compiled."""
    if folder is None:
        return ()
    wanted = (("jax_compilation_cache_dir", folder), ("jax_persistent_cache_min_compile_time_secs", 0.0),
              ("jax_persistent_cache_min_entry_size_bytes", 0))
    return tuple(Setting("jax.config.update", value, read=f"jax.config.{key}", key=key, function=True)
                 for key, value in wanted
                 if hasattr(_jax().config, key))  # the entry-size option is newer than some releases


def _enable_x64(jax):
    """JAX's thread-local x64 switch (``jax.enable_x64`` from JAX 0.8, ``jax.experimental.enable_x64`` before)."""
    switch = getattr(jax, "enable_x64", None)  # (a State, which refuses bool())
    return importlib.import_module("jax.experimental").enable_x64 if switch is None else switch


def _reset_cache() -> None:
    from jax.experimental.compilation_cache import compilation_cache

    compilation_cache.reset_cache()


@contextlib.contextmanager
def scoped(settings: tuple[Setting, ...] = (), *, x64: bool):
    """The harness's own JAX work: ``settings`` (a call's switches), jax_enable_x64 = ``x64``
    and the persistent cache in force inside the block only, the values they had put back.

    JAX opens its persistent cache once per process, in the folder set at the first
    compilation, and keeps writing there whatever the folder says later: where the user's
    folder is another (or none), it is closed before and after the block, so that the
    harness's programs go to its folder and the user's never do."""
    jax = _jax()
    folder = cache_dir()
    cache = _cache_settings(folder)
    separate = bool(cache) and jax.config.jax_compilation_cache_dir != folder
    if separate:
        _reset_cache()
    try:
        with _enable_x64(jax)(x64), applied(settings + cache, {"jax": jax}):
            yield
    finally:
        if separate:
            _reset_cache()


def configure_process() -> None:
    """For a process that does only the harness's JAX work (a Keras worker): x64 and the
    persistent cache for all of it."""
    jax = _jax()
    jax.config.update("jax_enable_x64", True)
    for setting in _cache_settings(cache_dir()):
        jax.config.update(setting.key, setting.value)


def _modules(packages: tuple[str, ...]) -> dict:
    """jax, NumPy and ``packages`` (such as "flax.nnx"), each imported and bound by its
    top-level name, as ``import flax.nnx`` binds flax."""
    for package in packages:
        importlib.import_module(package)
    return {"jax": _jax(), "np": np, **{p.split(".")[0]: sys.modules[p.split(".")[0]] for p in packages}}


@functools.cache
def _compiled(*packages: str):
    """The body of a call, traced and compiled as one program per body and shapes."""
    modules = _modules(packages)

    def body(steps, results, variables):
        bound = run_steps(steps, dict(variables), modules)
        return tuple(bound[name] for name in results)

    return modules["jax"].jit(body, static_argnums=(0, 1))


def vjp_steps(spec: ConvSpec, body) -> tuple[tuple, int]:
    """``jax.vjp`` of the body as a function of the inputs ``x, w, b``, its pull-back applied
    to ``dy``; and the index of the ``jax.vjp`` step."""
    names = tensor_names(spec)
    vjp = Step("y, pull_back", call("jax.vjp", Var("forward"), *map(Var, names)))
    return (Define("forward", names, tuple(body)), vjp,
            Step(", ".join(gradient_results(spec)), call("pull_back", Var("dy")))), 1


def dimension_numbers(layout: str) -> tuple[str, str, str]:
    spatial = layout.replace("N", "").replace("C", "")
    return layout, "OI" + spatial, layout


class Jax(Backend):
    name = "jax"
    module = "jax"
    imports: tuple[str, ...] = ("import jax",)
    packages: tuple[str, ...] = ()  # what the call's names use besides jax and NumPy
    crashes = CRASHES

    def load(self) -> None:
        _compiled(*self.packages)

    def namespace(self) -> dict:
        return _modules(self.packages)

    def imports_for(self, spec: ConvSpec) -> tuple[str, ...]:
        if spec.dtype != "float64":
            return self.imports
        at = self.imports.index("import jax") + 1
        return (*self.imports[:at], X64, *self.imports[at:])

    def padding_argument(self, spec: ConvSpec, layout: str):
        if spec.padding in ("same", "valid"):
            return spec.padding.upper()
        return tuple(tuple(pair) for pair in spec.explicit_padding)

    def to_numpy(self, spec: ConvSpec) -> tuple[Step, ...]:
        return (Step("y", call("np.asarray", Var("y"))),)

    def pad(self, name: str, spec: ConvSpec, layout: str):
        pairs = ((0, 0), *spec.explicit_padding, (0, 0)) if layout.endswith("C") else \
            ((0, 0), (0, 0), *spec.explicit_padding)  # a tuple: the jitted body is static, so hashable
        return (call("jax.numpy.pad", Var(name), pairs, mode=NUMPY_PAD_MODES[spec.padding_mode]),)

    def convolution(self, spec: ConvSpec, layout: str, padding):
        conv = call("jax.lax.conv_general_dilated", Var("x"), Var("w"), window_strides=spec.stride, padding=padding,
                    rhs_dilation=spec.dilation, dimension_numbers=dimension_numbers(layout),
                    feature_group_count=spec.groups)
        return (Step("y", conv), *self.bias(spec, layout)), 0

    def convolution_transpose(self, spec: ConvSpec, layout: str):
        r, g = spec.rank, spec.groups
        kernel = [Step("w", call("jax.numpy.flip", Var("w"), axis=tuple(range(2, 2 + r))), "the kernel flipped")]
        if g == 1:
            kernel.append(Step("w", call("jax.numpy.swapaxes", Var("w"), 0, 1), "(in, out, *k) -> (out, in, *k)"))
        else:
            grouped = (g, spec.in_channels // g, spec.out_channels // g, *spec.kernel)
            kernel += [Step("w", call("jax.numpy.reshape", Var("w"), grouped), "(in, out/g, *k) per group"),
                       Step("w", call("jax.numpy.swapaxes", Var("w"), 1, 2)),
                       Step("w", call("jax.numpy.reshape", Var("w"),
                                      (spec.out_channels, spec.in_channels // g, *spec.kernel)))]
        conv = call("jax.lax.conv_general_dilated", Var("x"), Var("w"), window_strides=(1,) * r,
                    padding=spec.dilated_input_padding,
                    lhs_dilation=spec.stride, rhs_dilation=spec.dilation,
                    dimension_numbers=dimension_numbers(layout), feature_group_count=g)
        return (*kernel, Step("y", conv), *self.bias(spec, layout)), len(kernel)

    def differentiate(self, spec: ConvSpec, body):
        return vjp_steps(spec, body)

    def bias(self, spec: ConvSpec, layout: str) -> tuple[Step, ...]:
        if not spec.bias:
            return ()
        return (Step("b", call("jax.numpy.reshape", Var("b"), bias_broadcast_shape(layout, spec.out_channels))),
                Step("y", call("jax.numpy.add", Var("y"), Var("b"))))

    def place(self, spec: ConvSpec, device: Device) -> tuple[Step, ...]:
        if not device.accelerator and _jax().default_backend() == "cpu":
            return ()
        if device.accelerator:  # (with a GPU, JAX computes there by default: a CPU case names the CPU)
            try:
                found = len(_jax().devices(device.kind))
            except RuntimeError:
                found = 0
            if device.index >= found:
                raise NoForm(f"jax sees no CUDA device {device} ({found} found)")
        where = Item(call("jax.devices", device.kind), device.index)
        return tuple(Step(n, call("jax.device_put", Var(n), where)) for n in tensor_names(spec))

    def float32_settings(self) -> tuple[Setting, ...]:
        return (Setting("jax.config.update", "highest", read="jax.config.jax_default_matmul_precision",
                        key="jax_default_matmul_precision", function=True),)

    def capability(self, device: Device) -> tuple[int, ...]:
        found = _jax().devices(device.kind)[device.index]
        return tuple(int(part) for part in str(getattr(found, "compute_capability", "0.0")).split("."))

    def allows_tf32(self) -> bool:
        """XLA's default precision does, unless jax_default_matmul_precision asks for more."""
        asked = str(_jax().config.jax_default_matmul_precision or "default").lower()
        return asked not in ("highest", "float32", "precision.highest")

    def execute(self, planned, x, w, b, dy=None):
        """NumPy arrays go into the jitted body as they are (a conversion first
        would compile a program of its own per shape); placed on a device first
        where the call says so; x64 on where its imports switch it on. A gradient
        call's body (jax.vjp and the pull-back) is jitted whole."""
        namespace = self.namespace()
        with scoped(planned.settings, x64=X64 in planned.imports):
            given = run_steps(planned.inputs, {"x": x, "w": w, "b": b, "dy": dy}, namespace)
            computed = _compiled(*self.packages)(planned.body, planned.results, given)
            variables = run_steps(planned.outputs, dict(zip(planned.results, computed)), namespace)
        return result_of(planned, variables)
