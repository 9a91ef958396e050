"""TensorFlow: ``tf.nn.convNd`` and ``tf.nn.convolution``, its refusals and the probe of its
CPU code path (``adapter``)."""

from .. import public

BACKENDS = {"tensorflow": {"adapter": "TensorFlow", "requires": "tensorflow", "extra": "tensorflow"}}
WHILE_LOADING_MODELS = "native_logs_held"  # a model module that imports Keras imports TensorFlow
PUBLIC = {name: "adapter" for name in (
    "runs_eigen", "tf_release", "log_level", "without_op_name", "native_logs_held", "import_tensorflow",
    "CHANNELS_LAST_ONLY", "NO_GROUPS", "NO_CONV3D_GROUPS", "NO_DILATION")}


def __getattr__(name: str):
    return public(__name__.rpartition(".")[2], name)
