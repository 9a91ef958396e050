"""TensorFlow: tf.nn.conv1d, tf.nn.conv2d, tf.nn.conv3d.

Weights go to TensorFlow's (*kernel, in/groups, out). A channels-first spec
uses the native data_format only where this build's CPU kernel accepts it
for the dtype (probed once per rank and dtype); otherwise the adapter
transposes to channels-last around the call and says so. Only conv2d takes
an explicit padding list; conv1d and conv3d get a tf.pad first.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import sys
import tempfile

import numpy as np

from ..layouts import (
    channels_last_layout,
    to_channels_first_axes,
    to_channels_last_axes,
    weight_to_spatial_first_axes,
)
from ..spec import ConvSpec
from .base import Backend, Refusal, Script, tensor_names

CHANNELS_LAST_ONLY = r"only supports the NHWC tensor format"

REFUSALS = (
    Refusal(
        "conv3d_groups",
        lambda spec: spec.rank == 3 and spec.groups > 1,
        r"Number of channels in filter \(\d+\) must match last dimension of input"
        r"|input and filter must have the same depth|grouped convolution",
        "TensorFlow's CPU Conv3D has no grouped form",
        dict(layout="NDHWC", in_channels=2, out_channels=2, spatial=3, kernel=1, groups=2),
    ),
    Refusal(
        "conv3d_dilation",
        lambda spec: spec.rank == 3 and any(d > 1 for d in spec.dilation),
        r"only supports dilated rates of 1",
        "TensorFlow's CPU Conv3D supports dilation 1 only",
        dict(layout="NDHWC", in_channels=1, out_channels=1, spatial=3, kernel=2, dilation=2),
    ),
    Refusal(
        "grouped_cpu",
        lambda spec: spec.groups > 1,
        r"does not support grouped convolutions|[Gg]rouped convolution is not supported",
        "this TensorFlow build's CPU convolution has no grouped form",
        dict(layout="NHWC", in_channels=2, out_channels=2, spatial=3, kernel=1, groups=2),
    ),
)


@functools.cache
def _tf():
    # TensorFlow's C++ logs (a oneDNN banner, "falling back to Eigen" lines) unless the user set a level
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _quiet_native_stderr(os.environ["TF_CPP_MIN_LOG_LEVEL"] not in ("0", "1")):
        import tensorflow as tf

    return tf


@contextlib.contextmanager
def _quiet_native_stderr(quiet: bool):
    """TensorFlow's import writes its oneDNN banner from C++ before its logging is
    set up, so no log level silences it: unless the user asked for TensorFlow's
    info logs, what the import writes to stderr is kept back, and shown only
    if the import fails."""
    if not quiet:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            held.seek(0)
            sys.stderr.write(held.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


@functools.cache
def native_channels_first(rank: int, dtype: str) -> bool:
    """Whether this build's CPU kernel runs channels-first for ``dtype`` (probed)."""
    tf = _tf()
    layout = ("NCW", "NCHW", "NCDHW")[rank - 1]
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


def _full(values: tuple[int, ...], channels_last: bool) -> list[int]:
    """Per-dimension values as TensorFlow's full-rank list in the data_format."""
    return [1, *values, 1] if channels_last else [1, 1, *values]


class TensorFlow(Backend):
    name = "tensorflow"
    module = "tensorflow"
    refusals = REFUSALS
    imports = ("import tensorflow as tf",)

    def tensor_lines(self, spec: ConvSpec) -> list[str]:
        names = tensor_names(spec)
        return [f"{names} = (tf.constant(a) for a in ({names}))"]

    def result_for(self, spec: ConvSpec) -> str:
        return "y = y.numpy()"

    def load(self) -> None:
        _tf()

    def message(self, exc: BaseException) -> str:
        return re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", super().message(exc))

    def _run(self, spec: ConvSpec, x, w, b, script: Script) -> np.ndarray:
        tf = _tf()
        r = spec.rank
        script(f"w = tf.transpose(w, {list(weight_to_spatial_first_axes(r))})  # (O, I/g, *k) -> (*k, I/g, O)")
        tx, tw = tf.constant(x), tf.constant(np.transpose(w, weight_to_spatial_first_axes(r)))
        layout = spec.layout
        if not spec.channels_last and not native_channels_first(r, spec.dtype):
            layout = channels_last_layout(spec.layout)
            axes = to_channels_last_axes(r)
            script(f"x = tf.transpose(x, {list(axes)})  # {spec.layout} -> {layout}")
            script.note(f"this CPU kernel refuses {spec.layout} for {spec.dtype}: transposed to {layout}")
            script.transposed = True
            tx = tf.transpose(tx, axes)
        last = layout.endswith("C")
        padding = self._padding(spec, last)
        if not isinstance(padding, (str, list)):
            widths = [[0, 0], *map(list, spec.explicit_padding), [0, 0]]
            if not last:
                widths = [[0, 0], [0, 0], *map(list, spec.explicit_padding)]
            script(f"x = tf.pad(x, {widths})  # tf.nn.conv{r}d takes no explicit padding list")
            tx = tf.pad(tx, widths)
            padding = "VALID"
        strides, dilations = _full(spec.stride, last), _full(spec.dilation, last)
        script.conv(
            f"y = tf.nn.conv{r}d(x, w, {strides}, {padding!r}, data_format={layout!r}, dilations={dilations})"
        )
        y = _conv(tf, r)(tx, tw, strides, padding, data_format=layout, dilations=dilations)
        if b is not None:
            fmt = "N...C" if last else "NC..."
            script(f"y = tf.nn.bias_add(y, b, data_format={fmt!r})")
            y = tf.nn.bias_add(y, tf.constant(b), data_format=fmt)
        if layout != spec.layout:
            axes = to_channels_first_axes(r)
            script(f"y = tf.transpose(y, {list(axes)})  # back to {spec.layout}")
            y = tf.transpose(y, axes)
        return y.numpy()

    @staticmethod
    def _padding(spec: ConvSpec, channels_last: bool):
        """'SAME'/'VALID', conv2d's explicit list, or None when a tf.pad must come first."""
        if spec.padding in ("same", "valid"):
            return spec.padding.upper()
        if spec.rank == 2:
            pairs = [list(p) for p in spec.explicit_padding]
            return [[0, 0], *pairs, [0, 0]] if channels_last else [[0, 0], [0, 0], *pairs]
        return None
