"""TensorFlow: tf.nn.conv1d/2d/3d and tf.nn.conv1d_transpose/2d/3d.

What is special: weights are (*kernel, in/groups, out); a channels-first spec
runs natively only where this build's CPU kernel accepts it for the dtype
(probed once per rank and dtype), else it is transposed around the call;
only conv2d takes an explicit padding list (conv1d and conv3d get a tf.pad
first); the bias is a separate tf.nn.bias_add; the CPU kernels refuse some
valid specs (declared below); the import is kept quiet. A transposed conv
takes filters (*kernel, out, in) and the output shape: 'same' is native,
anything else runs 'VALID' (the full output, plus what output_padding
reaches beyond it) and is sliced; a grouped one has no TensorFlow form.
Padding modes pad first: REFLECT is tf.pad's; TensorFlow has no edge mode
(its SYMMETRIC repeats the edge only for a pad of 1), so replicate and
circular gather the padded positions per axis (the indices are NumPy's pad
of the positions, np.pad(np.arange(n), pads, mode)). A gradient is a
tf.GradientTape's of the body at dy; the CPU gradient kernels refuse more
(GRADIENT_REFUSALS, probed).
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import sys
import tempfile

import numpy as np

from ...calls import Block, Setting, Step, Var, call
from ...devices import Device
from ...layouts import channels_last_layout
from ...reference import NUMPY_PAD_MODES
from ...spec import ConvSpec, layout_of
from ...backends.base import Backend, NoForm, Refusal, gradient_results, release, tensor_names

# TensorFlow's messages (regular expressions) for what its CPU kernels refuse: Keras' TensorFlow backend
# runs the same kernels, and its refusals name these
CHANNELS_LAST_ONLY = r"only supports the N\w*C tensor format|only supports N\w*C|only supported for N\w*C format"
NO_GROUPS = r"does not support grouped|[Gg]rouped convolution is not supported"
NO_CONV3D_GROUPS = r"must match last dimension of input|input and filter must have the same depth"
NO_DILATION = r"not yet support dilation rates larger than 1"

REFUSALS = (
    Refusal(
        "conv3d_groups",
        lambda spec: spec.rank == 3 and spec.groups > 1,
        NO_CONV3D_GROUPS + "|grouped convolution",
        "TensorFlow's CPU Conv3D has no grouped form",
        dict(layout="NDHWC", in_channels=2, out_channels=2, spatial=3, kernel=1, groups=2),
    ),
    Refusal(
        "conv3d_strided_dilation",
        lambda spec: spec.rank == 3 and not spec.transposed and any(d > 1 for d in spec.dilation)
        and any(s > 1 for s in spec.stride),
        r"strides > 1`? not supported in conjunction with `?dilation_rate > 1",
        "TensorFlow's Eigen CPU Conv3D supports dilation 1 only, and tf.nn.convolution, which dilates by "
        "space-to-batch instead, takes stride 1 only with a dilation",
        dict(layout="NDHWC", in_channels=1, out_channels=1, spatial=5, kernel=2, dilation=2, stride=2,
             dtype="float64"),
        lambda spec: runs_eigen(spec.dtype),
    ),
    Refusal(
        "transposed_groups",
        lambda spec: spec.transposed and spec.groups > 1,
        r"has no groups argument",
        "tf.nn.conv1d_transpose/conv2d_transpose/conv3d_transpose have no grouped form",
        dict(layout="NHWC", in_channels=2, out_channels=2, spatial=3, kernel=1, groups=2, transposed=True),
    ),
    Refusal(
        "transposed_dilation_cpu",
        lambda spec: spec.transposed and any(d > 1 for d in spec.dilation),
        NO_DILATION,
        "TensorFlow's Eigen CPU transposed convolution supports dilation 1 only (float16 and float64 on a CPU where "
        "float32 and bfloat16 run through oneDNN, which dilates)",
        dict(layout="NWC", in_channels=1, out_channels=1, spatial=3, kernel=2, dilation=2, transposed=True,
             dtype="float64"),
        lambda spec: runs_eigen(spec.dtype),
    ),
    Refusal(
        "grouped_cpu",
        lambda spec: spec.groups > 1,
        NO_GROUPS,
        "this TensorFlow build's CPU convolution has no grouped form (2.21.0 computes grouped conv1d and "
        "conv2d on both its oneDNN and its Eigen path)",
        dict(layout="NHWC", in_channels=2, out_channels=2, spatial=3, kernel=1, groups=2),
        lambda spec: tf_release() < (2, 21),
    ),
)


def takes_padding_list(spec: ConvSpec) -> bool:
    """Whether the convolution gets explicit pads as its padding argument: conv2d only (conv1d
    and conv3d take none, and a padding mode pads first)."""
    return spec.rank == 2 and not spec.transposed and not isinstance(spec.padding, str) and spec.padded \
        and not spec.mode_fills


def runs_eigen_gradient(spec: ConvSpec) -> bool:
    """Whether TensorFlow's CPU gradient of a forward conv1d or conv2d runs Eigen's kernels
    (Conv2DCustomBackpropInput/Filter): for the dtypes Eigen computes (``runs_eigen``), and
    in every dtype for a conv2d given explicit pads, which oneDNN's gradient does not take
    (probed: 2.21.0 with oneDNN refuses exactly those float32 and bfloat16 cases)."""
    return spec.rank < 3 and not spec.transposed and (runs_eigen(spec.dtype) or takes_padding_list(spec))


GRADIENT_REFUSALS = (
    Refusal(
        "channels_first_padded_conv2d_gradient",
        lambda spec: not spec.channels_last and takes_padding_list(spec),
        r"Conv2DCustomBackpropInputOp only supports NHWC",
        "TensorFlow's CPU gradient of a channels-first conv2d given explicit pads runs Eigen's kernel, which takes "
        "NHWC only",
        dict(layout="NCHW", in_channels=1, out_channels=1, spatial=3, kernel=2, padding=1),
        # only where the forward runs channels-first natively: elsewhere the adapter transposes to NHWC
        lambda spec: not runs_eigen(spec.dtype),
    ),
    Refusal(
        "dilated_gradient_cpu",
        lambda spec: spec.rank < 3 and not spec.transposed and any(d > 1 for d in spec.dilation),
        NO_DILATION,
        "TensorFlow's Eigen CPU gradient of a conv1d or conv2d (Conv2DBackpropInput) supports dilation 1 only",
        dict(layout="NHWC", in_channels=1, out_channels=1, spatial=3, kernel=2, dilation=2, padding=((1, 1), (1, 1))),
        runs_eigen_gradient,
    ),
    Refusal(
        "grouped_gradient_cpu",
        lambda spec: spec.rank < 3 and not spec.transposed and spec.groups > 1,
        r"Gradients for grouped convolutions are not supported on CPU",
        "TensorFlow's Eigen CPU gradient of a conv1d or conv2d (Conv2DBackpropInput) has no grouped form",
        dict(layout="NWC", in_channels=2, out_channels=2, spatial=3, kernel=1, groups=2, dtype="float64"),
        runs_eigen_gradient,
    ),
)


@functools.cache
def import_tensorflow():
    with native_logs_held():
        import tensorflow as tf

    return tf


@functools.cache
def _gpus() -> tuple:
    """The GPUs this TensorFlow can compute on (none with tensorflow-cpu)."""
    return tuple(import_tensorflow().config.list_physical_devices("GPU"))


# TensorFlow's C++ info and warning lines (its oneDNN banner) and absl's note before them
NATIVE_LOG = re.compile(rb"^([IW]\d{4} \S+ +\d+ \S+:\d+\]|WARNING: All log messages before absl)")


def log_level() -> str:
    """TensorFlow's log level for its import and for worker processes: the user's, else 3."""
    from . import USER_TF_LOG_LEVEL

    return USER_TF_LOG_LEVEL or "3"


@contextlib.contextmanager
def log_level_set():
    """TF_CPP_MIN_LOG_LEVEL at ``log_level()`` inside the block (TensorFlow reads it as
    it loads), and after it what the user had, set or unset."""
    before = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = log_level()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TF_CPP_MIN_LOG_LEVEL", None)
        else:
            os.environ["TF_CPP_MIN_LOG_LEVEL"] = before


@contextlib.contextmanager
def native_logs_held():
    """TensorFlow's import writes its oneDNN banner from C++ before its logging is
    set up, so no log level silences it: unless the user set TF_CPP_MIN_LOG_LEVEL
    to 0 or 1 (else it is 3 here, as for every TensorFlow log), what is written
    to stderr inside the block (importing TensorFlow, or a user's module that
    imports Keras) is held and given back without those lines; all of it if
    the block fails. The log level is set for the block only (``log_level_set``)."""
    with log_level_set():
        if log_level() in ("0", "1"):
            yield
        else:
            with _stderr_filtered():
                yield


@contextlib.contextmanager
def _stderr_filtered():
    """What is written to file descriptor 2 inside, given back without TensorFlow's native log lines."""
    sys.stderr.flush()
    saved = os.dup(2)
    failed = False
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            lines = held.read().splitlines(keepends=True)
            kept = b"".join(line for line in lines if failed or not NATIVE_LOG.match(line))
            sys.stderr.write(kept.decode(errors="replace"))
            sys.stderr.flush()


def tf_release() -> tuple[int, ...]:
    """TensorFlow's release as numbers, (2, 21, 0)."""
    return release(import_tensorflow().__version__)


@functools.cache
def runs_eigen(dtype: str) -> bool:
    """Whether TensorFlow computes ``dtype`` convolutions here with its Eigen CPU kernels
    rather than oneDNN's. TensorFlow turns oneDNN on by default only on some x86 CPUs
    (TF_ENABLE_ONEDNN_OPTS=0 or 1 decides), and then for float32 and bfloat16 only.
    The probe is the one kernel only oneDNN has: a channels-first Conv2D."""
    return not native_channels_first(2, dtype)


@functools.cache
def native_channels_first(rank: int, dtype: str) -> bool:
    """Whether this build's CPU kernel runs channels-first for ``dtype`` (probed)."""
    tf = import_tensorflow()
    layout = layout_of(rank, channels_last=False)
    x = tf.zeros((1, 1) + (1,) * rank, dtype=dtype)
    w = tf.zeros((1,) * rank + (1, 1), dtype=dtype)
    try:
        _conv(tf, rank)(x, w, [1] * (rank + 2), "VALID", data_format=layout)
    except Exception as exc:
        if re.search(CHANNELS_LAST_ONLY, str(exc)):
            return False
        raise
    return True


def _conv(tf, rank: int):
    return (tf.nn.conv1d, tf.nn.conv2d, tf.nn.conv3d)[rank - 1]


def without_op_name(line: str) -> str:
    """A TensorFlow message without the {{function_node ...}} it starts with."""
    return re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", line)


def _arranged(spatial: list, channels_last: bool, batch, channel) -> list:
    """Per-spatial-axis values as TensorFlow's full-rank list in the data_format."""
    return [batch, *spatial, channel] if channels_last else [batch, channel, *spatial]


def _full(values: tuple[int, ...], channels_last: bool) -> list[int]:
    return _arranged(list(values), channels_last, 1, 1)


def _full_pairs(spec: ConvSpec, channels_last: bool) -> list[list[int]]:
    return _arranged([list(p) for p in spec.explicit_padding], channels_last, [0, 0], [0, 0])


class TensorFlow(Backend):
    name = "tensorflow"
    module = "tensorflow"
    imports = ("import tensorflow as tf",)
    refusals = REFUSALS
    gradient_refusals = GRADIENT_REFUSALS
    weights_spatial_first = True
    no_padding = "VALID"

    def load(self) -> None:
        import_tensorflow()

    def namespace(self) -> dict:
        return {"tf": import_tensorflow()}

    def message(self, exc: BaseException) -> str:
        return without_op_name(super().message(exc))

    def run_layout(self, spec: ConvSpec) -> str:
        if spec.channels_last or native_channels_first(spec.rank, spec.dtype):
            return spec.layout
        return channels_last_layout(spec.layout)

    def transpose_reason(self, spec: ConvSpec, layout: str) -> str:
        return f"this CPU kernel refuses {spec.layout} for {spec.dtype}: transposed to {layout}"

    def padding_argument(self, spec: ConvSpec, layout: str):
        """'SAME'/'VALID', or conv2d's explicit list; conv1d and conv3d take no list."""
        if spec.padding in ("same", "valid"):
            return spec.padding.upper()
        if not spec.padded:
            return "VALID"
        if takes_padding_list(spec):
            return _full_pairs(spec, layout.endswith("C"))
        return None

    def transpose(self, name: str, axes: tuple[int, ...]):
        return call("tf.transpose", Var(name), list(axes))

    def pad(self, name: str, spec: ConvSpec, layout: str):
        pairs = _full_pairs(spec, layout.endswith("C"))
        if spec.padding_mode == "zeros":
            return (call("tf.pad", Var(name), pairs),)
        if spec.padding_mode == "reflect":
            return (call("tf.pad", Var(name), pairs, mode="REFLECT"),)
        first = 1 if layout.endswith("C") else 2
        mode = NUMPY_PAD_MODES[spec.padding_mode]
        return tuple(
            call("tf.gather", Var(name), np.pad(np.arange(size), pair, mode=mode).tolist(), axis=first + axis)
            for axis, (size, pair) in enumerate(zip(spec.spatial, spec.explicit_padding)) if any(pair))

    def to_framework(self, spec: ConvSpec) -> tuple[Step, ...]:
        return tuple(Step(n, call("tf.constant", Var(n))) for n in tensor_names(spec))

    def place(self, spec: ConvSpec, device: Device) -> tuple[Step, ...]:
        """Nothing to convert: ``scope`` names the device. Refused where this TensorFlow
        has no such GPU."""
        found = len(_gpus())
        if device.accelerator and device.index >= found:
            if not found:
                raise NoForm("this TensorFlow has no GPU (tensorflow-cpu, or no CUDA device it can use)")
            raise NoForm(f"this TensorFlow sees no GPU {device.index} ({found} found)")
        return ()

    def scope(self, device: Device):
        """``tf.device`` where this TensorFlow sees a GPU: it computes there by default,
        so a CPU case names the CPU too. None where it has no GPU."""
        if not _gpus():
            return None
        return call("tf.device", f"/GPU:{device.index}" if device.accelerator else "/CPU:0")

    def capability(self, device: Device) -> tuple[int, ...]:
        details = import_tensorflow().config.experimental.get_device_details(_gpus()[device.index])
        return tuple(details.get("compute_capability", (0, 0)))

    def allows_tf32(self) -> bool:
        return import_tensorflow().config.experimental.tensor_float_32_execution_enabled()

    def float32_settings(self) -> tuple[Setting, ...]:
        return (Setting("tf.config.experimental.enable_tensor_float_32_execution", False, function=True,
                        read="tf.config.experimental.tensor_float_32_execution_enabled", read_called=True),)

    def to_numpy(self, spec: ConvSpec) -> tuple[Step, ...]:
        return (Step("y", call("y.numpy")),)

    def convolution(self, spec: ConvSpec, layout: str, padding):
        last = layout.endswith("C")
        function = f"tf.nn.conv{spec.rank}d"
        if spec.rank == 3 and max(spec.dilation) > 1 and runs_eigen(spec.dtype):
            function = "tf.nn.convolution"  # Eigen's Conv3D refuses dilation; this dilates by space-to-batch
        conv = call(function, Var("x"), Var("w"), _full(spec.stride, last), padding,
                    data_format=layout, dilations=_full(spec.dilation, last))
        return (Step("y", conv), *self.bias(spec, layout)), 0

    def convolution_transpose(self, spec: ConvSpec, layout: str):
        if spec.groups > 1:
            raise NoForm(f"tf.nn.conv{spec.rank}d_transpose has no groups argument")
        last = layout.endswith("C")
        if spec.padding == "same":
            size, crop = spec.output_spatial, ()
        else:  # the full output, plus what output_padding reaches beyond it: as far as 'VALID' can
            begins = [before for before, _ in spec.explicit_padding]
            size = [full + min(past, s - 1) for full, past, s in zip(
                spec.full_output_spatial, spec.past_full_output, spec.stride)]
            zeros = [past - (grown - full) for past, grown, full in zip(
                spec.past_full_output, size, spec.full_output_spatial)]
            crop = []
            if any(zeros):
                pairs = _arranged([[0, z] for z in zeros], last, [0, 0], [0, 0])
                crop.append(Step("y", call("tf.pad", Var("y"), pairs), "zeros where output_padding reaches beyond "
                                 "what 'VALID' can give (stride 1)"))
            if spec.output_spatial != tuple(size) or any(begins):
                sizes = _arranged(list(spec.output_spatial), last, spec.batch, spec.out_channels)
                crop.append(Step("y", call("tf.slice", Var("y"), _arranged(begins, last, 0, 0), sizes), "the crop"))
        shape = _arranged(list(size), last, spec.batch, spec.out_channels)
        conv = call(f"tf.nn.conv{spec.rank}d_transpose", Var("x"), Var("w"), shape, _full(spec.stride, last),
                    "SAME" if spec.padding == "same" else "VALID", data_format=layout,
                    dilations=_full(spec.dilation, last))
        return (Step("y", conv), *crop, *self.bias(spec, layout)), 0

    def differentiate(self, spec: ConvSpec, body):
        """The body recorded by a ``tf.GradientTape`` watching the inputs as they entered it
        (it may transpose or pad them), ``tape.gradient`` of ``y`` at ``dy``."""
        wrt = Step("wrt", tuple(Var(n) for n in tensor_names(spec)), "the inputs, before the body rebinds x and w")
        taped = Block(call("tf.GradientTape"), "tape", (Step(None, call("tape.watch", Var("wrt"))), *body))
        grad = call("tape.gradient", Var("y"), Var("wrt"), output_gradients=Var("dy"))
        return (wrt, taped, Step(", ".join(gradient_results(spec)), grad)), 2

    def bias(self, spec: ConvSpec, layout: str) -> tuple[Step, ...]:
        if not spec.bias:
            return ()
        return (Step("y", call("tf.nn.bias_add", Var("y"), Var("b"),
                               data_format="N...C" if layout.endswith("C") else "NC...")),)
