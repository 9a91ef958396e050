"""Keras 3 layers under each Keras backend: keras.layers.Conv1D/2D/3D,
DepthwiseConv1D/2D and Conv1D/2D/3DTranspose, as the users of Keras call them.

What is special: KERAS_BACKEND is fixed when Keras is imported, so each Keras
backend runs in a worker process of its own (``worker``: started on first use,
reused for every later case in this process); the call value is built here and
run there.
The layer is built for the spec's input, its weights set from the neutral ones
(Keras kernels are (*k, in/groups, out), depthwise (*k, C, M), transposed
(*k, out, in)), and called. 'valid', 'same' and 'causal' are Keras padding
arguments; explicit pairs are a ZeroPadding layer first; a padding mode has no
Keras layer, a transposed spec runs where Keras' own output-size rule
(``semantics.transposed_crop``) gives its crop, and a grouped transposed one not at all:
declared refusals, with the reason. A gradient is taken of the layer's trainable
weights as its Keras backend trains them (a tf.GradientTape, torch.autograd, or
jax.vjp through stateless_call), the kernel's gradient put back in the neutral order.
"""

from __future__ import annotations

import importlib.metadata
import re

from ...calls import Apply, Block, Item, Ref, Step, Var, call
from ...layouts import weight_from_spatial_first_axes, weight_to_spatial_first_axes
from ...spec import ConvSpec
from ...backends.base import Backend, NoForm, Refusal, gradient_results, release
from ..jax import vjp_steps
from ..tensorflow import CHANNELS_LAST_ONLY, NO_CONV3D_GROUPS, NO_DILATION, NO_GROUPS
from ..tensorflow import runs_eigen, without_op_name
from .semantics import keras_transposed_arguments
from .worker import KerasWorker

NO_KERAS_FORM = "has no Keras layer"
# The weights are set from the spec's right after the layer is built. Keras' default initializers
# (and its own 'zeros') would compile a program per new weight shape under JAX; np.zeros compiles nothing.
ZEROS = Ref("np.zeros")
NO_DRAW = dict(bias_initializer=ZEROS)
CALLED = Step("y", call("layer", Var("x")))  # the layer called on the input

REFUSALS = (
    Refusal(
        "strided_dilated",
        lambda spec: max(spec.stride) > 1 and max(spec.dilation) > 1,
        r"`strides > 1` not supported in conjunction with `dilation_rate > 1`",
        "Keras' convolution layers refuse a stride and a dilation both above 1",
        dict(layout="NWC", in_channels=1, out_channels=1, spatial=5, kernel=2, stride=2, dilation=2),
    ),
    Refusal(
        "padding_mode",
        lambda spec: spec.padding_mode != "zeros",
        NO_KERAS_FORM,
        "Keras' convolution layers pad with zeros only: no padding_mode",
        dict(layout="NWC", in_channels=1, out_channels=1, spatial=4, kernel=3, padding=1, padding_mode="reflect"),
    ),
    Refusal(
        "transposed_crop",
        lambda spec: spec.transposed,
        NO_KERAS_FORM,
        "Keras' Conv*DTranspose crops by its own rule ('valid' or 'same' with an output_padding): other crops and "
        "grouped transposed convs have no layer",
        dict(layout="NWC", in_channels=1, out_channels=1, spatial=3, kernel=3, stride=2, padding=((0, 2),),
             transposed=True),
    ),
)

TORCH_REFUSALS = (
    Refusal(
        "torch_transposed_output_padding",
        lambda spec: spec.transposed,
        r"lead to a Torch output_padding \(\d+\) that is greater than strides",
        "Keras' torch backend maps some transposed 'same' layers to an output_padding torch refuses (3.10.0 does; "
        "3.15.1 crops instead; releases between not verified, the cut-off at 3.15 assumed)",
        dict(layout="NCW", in_channels=1, out_channels=1, spatial=3, kernel=2, padding="same", transposed=True),
        lambda spec: keras_release() < (3, 15),
    ),
)

TENSORFLOW_REFUSALS = (  # the TensorFlow backend's CPU kernels, as tf.nn's
    Refusal(
        "depthwise_unequal_strides",
        lambda spec: spec.rank == 2 and spec.groups == spec.in_channels > 1 and spec.stride[0] != spec.stride[1],
        r"only supports equal length strides in the row and column dimensions",
        "TensorFlow's CPU DepthwiseConv2dNative (what DepthwiseConv2D runs) takes equal strides only",
        dict(layout="NHWC", in_channels=2, out_channels=4, spatial=5, kernel=1, stride=(2, 1), groups=2,
             dtype="float64"),
    ),
    Refusal(
        "channels_first_cpu",
        lambda spec: not spec.channels_last,
        CHANNELS_LAST_ONLY,
        "the TensorFlow backend's CPU kernels refuse channels-first convolutions for some dtypes",
        dict(layout="NCHW", in_channels=1, out_channels=1, spatial=3, kernel=2, dtype="float64"),
        lambda spec: runs_eigen(spec.dtype),
    ),
    Refusal(
        "tensorflow_cpu",
        lambda spec: spec.groups > 1 or any(d > 1 for d in spec.dilation),
        "|".join((r"only supports dilated rates of 1", NO_GROUPS, NO_CONV3D_GROUPS, NO_DILATION)),
        "the TensorFlow backend's CPU kernels refuse some grouped and dilated convolutions (as tf.nn's do): "
        "Keras 3.15.1 runs grouped and dilated forward convs through XLA or tf.nn.convolution, so the dilated "
        "transposed ones remain (Eigen's kernels; oneDNN's dilate in float32)",
        dict(layout="NWC", in_channels=1, out_channels=1, spatial=3, kernel=2, dilation=2, transposed=True,
             dtype="float64"),
        lambda spec: runs_eigen(spec.dtype),
    ),
)


def weights(spec: ConvSpec) -> list:
    """The layer's weights as ``set_weights`` and ``stateless_call`` take them: the kernel, and the bias."""
    return [Var("w"), Var("b")] if spec.bias else [Var("w")]


def keras_release() -> tuple[int, ...]:
    """The installed Keras release as numbers, read without importing it."""
    return release(importlib.metadata.version("keras"))


class Keras(Backend):
    keras_backend = ""  # set by each subclass
    module = "keras"
    refusals = REFUSALS
    native_padding_modes = True  # so the core pads nothing: the adapter refuses padding modes itself
    own_process = True  # its worker: Keras reads KERAS_BACKEND once per process
    _worker: KerasWorker | None = None  # this backend's (one instance per process: the registry caches it)

    def __init_subclass__(cls, keras_backend: str = "", own_refusals: tuple = (), **kwargs) -> None:
        """A subclass is Keras on one backend (``class KerasTorch(Keras, keras_backend="torch")``):
        named after it, refusing what Keras refuses everywhere and ``own_refusals``."""
        super().__init_subclass__(**kwargs)
        if keras_backend:
            cls.keras_backend, cls.name, cls.refusals = keras_backend, f"keras.{keras_backend}", REFUSALS + own_refusals

    def worker(self) -> KerasWorker:
        """This backend's worker, started on first use."""
        if self._worker is None:
            self._worker = KerasWorker(self.keras_backend)
        return self._worker

    def load(self) -> None:
        self.worker()

    def version(self) -> str:
        keras, framework = self.worker().versions
        return f"{keras} ({self.keras_backend} {framework})"

    def imports_for(self, spec: ConvSpec) -> tuple[str, ...]:
        first = (f'import os; os.environ["KERAS_BACKEND"] = "{self.keras_backend}"',)
        if self.keras_backend == "jax":
            first += ("import jax", 'jax.config.update("jax_enable_x64", True)')
        return (*first, "import keras", "import numpy as np")

    def execute(self, planned, x, w, b, dy=None):
        return self.start(planned, x, w, b, dy)()

    def start(self, planned, x, w, b, dy=None):
        return self.worker().start(planned, x, w, b, dy)  # the worker computes while the harness goes on

    def differentiate(self, spec: ConvSpec, body):
        """The framework's autodiff of ``y`` with respect to the input as it entered the body
        and the layer's trainable weights (its kernel and bias: ``trainable``), at ``dy``;
        the kernel's gradient then put back in the neutral order."""
        steps, autodiff = self.autodiff(spec, body)
        grad = Step(", ".join(gradient_results(spec)), autodiff)
        return (*steps, grad, *self.kernel_gradient_back(spec)), len(steps)

    def trainable(self, spec: ConvSpec, suffix: str = "") -> tuple[Ref, ...]:
        return tuple(Ref(f"layer.{name}{suffix}") for name in ("kernel", "bias")[:1 + spec.bias])

    def kernel_gradient_back(self, spec: ConvSpec) -> tuple[Step, ...]:
        """Steps from the gradient of the layer's kernel to ``dw`` in the neutral order."""
        r = spec.rank
        if spec.groups == spec.in_channels > 1 and r < 3 and not spec.transposed:  # depthwise: (*k, C, M)
            return (Step("dw", call("keras.ops.transpose", Var("dw"), (r, r + 1, *range(r))), "(C, M, *kernel)"),
                    Step("dw", call("keras.ops.reshape", Var("dw"), spec.weight_shape), "(C*M, 1, *kernel)"))
        order = "(in, out, *kernel)" if spec.transposed else "(out, in/groups, *kernel)"
        return (Step("dw", call("keras.ops.transpose", Var("dw"), weight_from_spatial_first_axes(r)), order),)

    def message(self, exc: BaseException) -> str:
        """The framework's own line: Keras wraps it in "Exception encountered when calling ..." with colours."""
        lines = [line.strip() for line in re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).splitlines() if line.strip()]
        if len(lines) > 1 and "Exception encountered when calling" in lines[0]:
            return without_op_name(lines[1])
        return lines[0] if lines else type(exc).__name__

    def place(self, spec: ConvSpec, device) -> tuple[Step, ...]:
        if device.accelerator:
            raise NoForm("the Keras workers compute on the CPU only (a device for them is not built yet)")
        return ()

    def padding_argument(self, spec: ConvSpec, layout: str):
        return spec.padding if isinstance(spec.padding, str) else "valid"

    def to_numpy(self, spec: ConvSpec) -> tuple[Step, ...]:
        return (Step("y", call("keras.ops.convert_to_numpy", Var("y"))),)

    def convolution(self, spec: ConvSpec, layout: str, padding):
        if spec.mode_fills:
            raise NoForm(f"padding_mode={spec.padding_mode!r} {NO_KERAS_FORM}")
        r, data_format = spec.rank, "channels_last" if spec.channels_last else "channels_first"
        depthwise = spec.groups == spec.in_channels > 1 and r < 3
        steps = []
        if not isinstance(spec.padding, str) or (depthwise and padding == "causal"):  # DepthwiseConv1D: no 'causal'
            if spec.padded:
                pads = spec.explicit_padding[0] if r == 1 else spec.explicit_padding
                steps += [Step("pad", call(f"keras.layers.ZeroPadding{r}D", padding=pads, data_format=data_format,
                                                dtype=spec.dtype),
                               "the pairs as a ZeroPadding layer first"),
                          Step("x", call("pad", Var("x")))]
            padding = "valid"
        multiplier = spec.out_channels // spec.groups
        common = dict(strides=spec.stride, padding=padding, data_format=data_format, dilation_rate=spec.dilation,
                      use_bias=spec.bias, dtype=spec.dtype, **NO_DRAW)
        if depthwise:  # (C*M, 1, *k) -> (*k, C, M)
            steps += [Step("w", call("np.reshape", Var("w"), (spec.in_channels, multiplier, *spec.kernel))),
                      Step("w", call("np.transpose", Var("w"), (*range(2, 2 + r), 0, 1)), "(*kernel, C, M)")]
            layer = call(f"keras.layers.DepthwiseConv{r}D", spec.kernel, depth_multiplier=multiplier,
                         depthwise_initializer=ZEROS, **common)
        else:
            steps.append(Step("w", call("np.transpose", Var("w"), weight_to_spatial_first_axes(r)),
                              "(out, in/groups, *kernel) -> (*kernel, in/groups, out)"))
            layer = call(f"keras.layers.Conv{r}D", spec.out_channels, spec.kernel, groups=spec.groups,
                         kernel_initializer=ZEROS, **common)
        return self._layer(spec, steps, layer)

    def convolution_transpose(self, spec: ConvSpec, layout: str):
        arguments = keras_transposed_arguments(spec) if spec.groups == 1 else None
        if arguments is None:
            raise NoForm(f"this crop or grouping of a transposed conv {NO_KERAS_FORM}")
        steps = [Step("w", call("np.transpose", Var("w"), weight_to_spatial_first_axes(spec.rank)),
                      "(in, out, *kernel) -> (*kernel, out, in)")]
        layer = call(f"keras.layers.Conv{spec.rank}DTranspose", spec.out_channels, spec.kernel, strides=spec.stride,
                     **arguments, data_format="channels_last" if spec.channels_last else "channels_first",
                     dilation_rate=spec.dilation, use_bias=spec.bias, dtype=spec.dtype,
                     kernel_initializer=ZEROS, **NO_DRAW)
        return self._layer(spec, steps, layer)

    def _layer(self, spec: ConvSpec, steps: list, layer) -> tuple[tuple[Step, ...], int]:
        """The layer built for the input, its weights set, called on x."""
        native = len(steps)
        steps += [Step("layer", layer), Step(None, call("layer.build", call("np.shape", Var("x")))),
                  Step(None, call("layer.set_weights", weights(spec))), CALLED]
        return tuple(steps), native


def tensors(x_in, x_comment: str = "") -> tuple[Step, ...]:
    """The autodiff's first steps: x and dy as tensors of Keras' backend, and ``x_in`` (the
    input the gradient is taken with respect to) bound before the body rebinds x."""
    return (Step("x", call("keras.ops.convert_to_tensor", Var("x")), x_comment),
            Step("dy", call("keras.ops.convert_to_tensor", Var("dy"))),
            Step("x_in", x_in, "the input, before the body rebinds x"))


class KerasTensorFlow(Keras, keras_backend="tensorflow", own_refusals=TENSORFLOW_REFUSALS):
    autodiff_imports = ("import tensorflow",)

    def autodiff(self, spec: ConvSpec, body):
        """A tf.GradientTape watching the input records the body; it watches the trainable variables itself."""
        steps = (*tensors(Var("x"), "a tensor the tape can watch"),
                 Block(call("tensorflow.GradientTape"), "tape", (Step(None, call("tape.watch", Var("x"))), *body)))
        wrt = (Var("x_in"), *self.trainable(spec))
        return steps, call("tape.gradient", Var("y"), wrt, output_gradients=Var("dy"))


class KerasJax(Keras, keras_backend="jax"):

    def differentiate(self, spec: ConvSpec, body):
        """``jax.vjp`` of the body as a function of the input and the neutral weights, the layer
        called statelessly with them as its trainable variables (``stateless_call``, how Keras
        trains under JAX): dw comes back through the body's own reordering."""
        stateless = Step("y", Item(call("layer.stateless_call", weights(spec), [], Var("x")), 0),
                         "the weights as its trainable variables")
        kept = (step for step in body if not (isinstance(step.value, Apply)
                                              and step.value.function == "layer.set_weights"))
        return vjp_steps(spec, tuple(stateless if step == CALLED else step for step in kept))

    def to_framework(self, spec: ConvSpec) -> tuple[Step, ...]:
        # what Keras does with a NumPy input, jax.numpy.asarray, compiles a program per new shape
        return (Step("x", call("jax.device_put", Var("x")), "on the device without a compiled copy"),)


class KerasTorch(Keras, keras_backend="torch", own_refusals=TORCH_REFUSALS):
    autodiff_imports = ("import torch",)

    def autodiff(self, spec: ConvSpec, body):
        """torch.autograd through the input, marked before the body, and the variables' torch parameters."""
        steps = (*tensors(call("x.requires_grad_")), *body)
        return steps, call("torch.autograd.grad", Var("y"), (Var("x_in"), *self.trainable(spec, ".value")),
                           Var("dy"))
