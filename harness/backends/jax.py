"""JAX: jax.lax.conv_general_dilated, with dimension_numbers naming the layout.

The neutral weight order (O, I/g, *k) is JAX's "OI..." kernel spec, so weights
need no conversion. float64 needs jax_enable_x64, switched on at first use.
"""

from __future__ import annotations

import functools

import numpy as np

from ..spec import ConvSpec
from .base import Backend, Call, Script


@functools.cache
def _jax():
    import jax

    jax.config.update("jax_enable_x64", True)
    return jax


def dimension_numbers(layout: str) -> tuple[str, str, str]:
    spatial = layout.replace("N", "").replace("C", "")
    return layout, "OI" + spatial, layout


class Jax(Backend):
    name = "jax"
    module = "jax"

    def _run(self, spec: ConvSpec, x, w, b) -> tuple[np.ndarray, Call]:
        jax = _jax()
        script = Script()
        if spec.padding in ("same", "valid"):
            padding = spec.padding.upper()
        else:
            padding = [tuple(p) for p in spec.explicit_padding]
        dims = dimension_numbers(spec.layout)
        y = jax.lax.conv_general_dilated(
            jax.numpy.asarray(x), jax.numpy.asarray(w), spec.stride, padding,
            rhs_dilation=spec.dilation, dimension_numbers=dims, feature_group_count=spec.groups,
        )
        script.conv(
            f"y = jax.lax.conv_general_dilated(x, w, window_strides={spec.stride}, padding={padding!r}, "
            f"rhs_dilation={spec.dilation}, dimension_numbers={dims}, feature_group_count={spec.groups})"
        )
        if b is not None:
            shape = [1] * (spec.rank + 2)
            shape[spec.layout.index("C")] = spec.out_channels
            y = y + jax.numpy.asarray(b).reshape(shape)
            script(f"y = y + b.reshape({tuple(shape)})")
        return np.asarray(y), script.call()
