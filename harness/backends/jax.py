"""JAX: jax.lax.conv_general_dilated, with dimension_numbers naming the layout.

The neutral weight order (O, I/g, *k) is JAX's "OI..." kernel spec, so weights
need no conversion. float64 needs jax_enable_x64, switched on at first use.
The call is jitted (one compilation per shape and configuration) and compiled
programs go to a persistent cache, so a repeated sweep skips compilation:
CONVHARNESS_JAX_CACHE names its folder (default ~/.cache/convharness/jax;
"off" disables it).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from ..spec import ConvSpec
from .base import Backend, Script, tensor_names

CACHE_ENV = "CONVHARNESS_JAX_CACHE"


def cache_dir() -> str | None:
    value = os.environ.get(CACHE_ENV, str(Path.home() / ".cache" / "convharness" / "jax"))
    return None if value.lower() == "off" else value


@functools.cache
def _jax():
    import jax

    jax.config.update("jax_enable_x64", True)
    folder = cache_dir()
    if folder:
        jax.config.update("jax_compilation_cache_dir", folder)
        for option, value in (("jax_persistent_cache_min_compile_time_secs", 0.0),
                              ("jax_persistent_cache_min_entry_size_bytes", 0)):
            if hasattr(jax.config, option):  # the entry-size option is newer than some releases
                jax.config.update(option, value)
    return jax


@functools.cache
def _compiled_conv():
    jax = _jax()

    def conv(x, w, b, *, strides, padding, dilation, dims, groups, bias_shape):
        y = jax.lax.conv_general_dilated(
            x, w, strides, padding, rhs_dilation=dilation, dimension_numbers=dims, feature_group_count=groups,
        )
        return y if b is None else y + b.reshape(bias_shape)

    return jax.jit(conv, static_argnames=("strides", "padding", "dilation", "dims", "groups", "bias_shape"))


def dimension_numbers(layout: str) -> tuple[str, str, str]:
    spatial = layout.replace("N", "").replace("C", "")
    return layout, "OI" + spatial, layout


class Jax(Backend):
    name = "jax"
    module = "jax"
    imports = ("import jax", 'jax.config.update("jax_enable_x64", True)')

    def tensor_lines(self, spec: ConvSpec) -> list[str]:
        names = tensor_names(spec)
        return [f"{names} = (jax.numpy.asarray(a) for a in ({names}))"]

    def result_for(self, spec: ConvSpec) -> str:
        return "y = np.asarray(y)"

    def load(self) -> None:
        _compiled_conv()

    def _run(self, spec: ConvSpec, x, w, b, script: Script) -> np.ndarray:
        if spec.padding in ("same", "valid"):
            padding = spec.padding.upper()
        else:
            padding = tuple(tuple(p) for p in spec.explicit_padding)
        dims = dimension_numbers(spec.layout)
        bias_shape = [1] * (spec.rank + 2)
        bias_shape[spec.layout.index("C")] = spec.out_channels
        script.conv(
            f"y = jax.lax.conv_general_dilated(x, w, window_strides={spec.stride}, padding={padding!r}, "
            f"rhs_dilation={spec.dilation}, dimension_numbers={dims}, feature_group_count={spec.groups})"
        )
        if b is not None:
            script(f"y = y + b.reshape({tuple(bias_shape)})")
        y = _compiled_conv()(  # NumPy arrays go in as they are: jax.numpy.asarray would compile a program per shape
            x, w, b,
            strides=spec.stride, padding=padding, dilation=spec.dilation, dims=dims,
            groups=spec.groups, bias_shape=tuple(bias_shape),
        )
        return np.asarray(y)
