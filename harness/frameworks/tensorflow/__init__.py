"""TensorFlow: ``tf.nn.convNd`` and ``tf.nn.convolution``, its refusals and the probe of its
CPU code path (``adapter``)."""

import os
import sys

from .. import public

# The user's TensorFlow log level, read when the registry is built (``import harness.backends``
# imports every package's ``__init__``), before any framework of ours is imported: importing jax
# sets it to "1" where it is unset, which would read as a request for TensorFlow's info logs.
_level = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
USER_TF_LOG_LEVEL = None if _level == "1" and "jax" in sys.modules else _level

BACKENDS = {"tensorflow": {"adapter": "TensorFlow", "requires": "tensorflow", "extra": "tensorflow"}}
DISTRIBUTIONS = {"tensorflow": ("tensorflow-cpu", "tensorflow")}
VARIABLES = ("TF_ENABLE_ONEDNN_OPTS",)  # 0 runs Eigen's kernels in place of oneDNN's
THREAD_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")
LAYOUT_NOTES = {"channels-first": "TensorFlow's CPU kernels may refuse channels-first (by dtype and machine): "
                                  "then the call is transposed"}
WHILE_LOADING_MODELS = "native_logs_held"  # a model module that imports Keras imports TensorFlow
PUBLIC = {name: "adapter" for name in (
    "runs_eigen", "tf_release", "log_level", "without_op_name", "native_logs_held", "import_tensorflow",
    "CHANNELS_LAST_ONLY", "NO_GROUPS", "NO_CONV3D_GROUPS", "NO_DILATION")}


def __getattr__(name: str):
    return public(__name__.rpartition(".")[2], name)
