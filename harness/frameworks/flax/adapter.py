"""Flax NNX layers: flax.nnx.Conv and flax.nnx.ConvTranspose, as Flax users call them.

What is special: Flax is channels-last only (a channels-first spec is
transposed around the layer, and the record says so); kernels are
(*k, in/groups, out), a transposed one (*k, out, in) with transpose_kernel=True
(Flax, like jax.lax.conv_transpose, does not flip the kernel otherwise);
padding is 'SAME', 'VALID', 'CAUSAL', explicit pairs, and 'CIRCULAR' or
'REFLECT', which pad ((e-1)//2, e//2) for the dilated kernel extent e (a
padding mode with other pads goes through jax.numpy.pad first); a transposed
layer's integer pads are those of the stride-dilated input, (k-1)*d - crop;
ConvTranspose has no groups (a declared refusal). The rest is the jax
backend's: the body runs jitted, padding modes go through jax.numpy.pad, and
a float64 call switches jax_enable_x64 on for itself; its gradient is jax.vjp
of the body, the layer built inside it and its kernel and bias set from the
traced weights (so dw and db flow through the layer's own parameters).
"""

from __future__ import annotations

from ...calls import Ref, Step, Var, call
from ...layouts import channels_last_layout
from ...spec import ConvSpec
from ...backends.base import NoForm, OneLayout, Refusal
from ..jax import Jax

NO_GROUPS = "flax.nnx.ConvTranspose has no feature_group_count"

REFUSALS = (
    Refusal(
        "transposed_groups",
        lambda spec: spec.transposed and spec.groups > 1,
        NO_GROUPS,
        "Flax's ConvTranspose has no grouped form",
        dict(layout="NWC", in_channels=2, out_channels=2, spatial=3, kernel=1, groups=2, transposed=True),
    ),
)
NATIVE_MODES = {"circular": "CIRCULAR", "reflect": "REFLECT"}
# The weights are set from the spec's right after the layer is made: Flax's default random
# initializers would put a random-number program into every compiled body (a third of its time).
NO_DRAW = dict(kernel_init=Ref("flax.nnx.initializers.zeros"), bias_init=Ref("flax.nnx.initializers.zeros"))


def flax_mode_pads(spec: ConvSpec) -> tuple[tuple[int, int], ...]:
    """What Flax's 'CIRCULAR' and 'REFLECT' pad: ((e-1)//2, e//2) per axis."""
    return tuple(((e - 1) // 2, e // 2) for e in ((k - 1) * d + 1 for k, d in zip(spec.kernel, spec.dilation)))


class Flax(OneLayout, Jax):
    name = "flax"
    module = "flax"
    imports = ("import jax", "import flax.nnx", "import numpy as np")
    refusals = REFUSALS
    weights_spatial_first = True
    native_padding_modes = True  # padding_argument decides, per spec, whether Flax's own string pads it
    packages = ("flax.nnx",)  # the body runs jitted as the jax backend's does (eager, op by op, it is 6x slower)
    only_layout = staticmethod(channels_last_layout)
    layout_note = "Flax is channels-last only: {layout} is transposed to {run} and back"
    transposer = "jax.numpy.transpose"

    def native_mode(self, spec: ConvSpec) -> bool:
        return spec.padding_mode in NATIVE_MODES and spec.explicit_padding == flax_mode_pads(spec)

    def padding_argument(self, spec: ConvSpec, layout: str):
        if self.native_mode(spec):
            return NATIVE_MODES[spec.padding_mode]
        if spec.mode_fills:
            return None  # jax.numpy.pad first
        if isinstance(spec.padding, str):
            return spec.padding.upper()
        return tuple(spec.explicit_padding)

    def _layer(self, spec: ConvSpec, layer) -> tuple[tuple[Step, ...], int]:
        steps = [Step("conv", layer), Step(None, call("conv.kernel.set_value", Var("w")))]
        if spec.bias:
            steps.append(Step(None, call("conv.bias.set_value", Var("b"))))
        return (*steps, Step("y", call("conv", Var("x")))), 0

    def convolution(self, spec: ConvSpec, layout: str, padding):
        return self._layer(spec, call(
            "flax.nnx.Conv", spec.in_channels, spec.out_channels, spec.kernel, spec.stride, padding=padding,
            kernel_dilation=spec.dilation, feature_group_count=spec.groups, use_bias=spec.bias, dtype=spec.dtype,
            param_dtype=spec.dtype, **NO_DRAW, rngs=call("flax.nnx.Rngs", 0)))

    def convolution_transpose(self, spec: ConvSpec, layout: str):
        if spec.groups > 1:
            raise NoForm(NO_GROUPS)
        return self._layer(spec, call(
            "flax.nnx.ConvTranspose", spec.in_channels, spec.out_channels, spec.kernel, spec.stride,
            padding=spec.dilated_input_padding, kernel_dilation=spec.dilation, use_bias=spec.bias, dtype=spec.dtype,
            param_dtype=spec.dtype, transpose_kernel=True, **NO_DRAW, rngs=call("flax.nnx.Rngs", 0)))
