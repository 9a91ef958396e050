"""Model scans of real Keras architectures: every convolution passes in every
backend (or is refused as declared), and the model's own layer output equals
the reference, which proves each captured spec and weight mapping right.
PyTorch models: test_scan_torch.py."""

from __future__ import annotations

import numpy as np
import pytest

from harness.porting import check_model, scan
from helpers import IMPORTS_TENSORFLOW, SLOW, assert_every_layer_agrees, imported

pytestmark = IMPORTS_TENSORFLOW


@pytest.fixture
def keras():
    """Imported by the tests that use it, not at collection (see helpers.IMPORTS_TENSORFLOW)."""
    return imported("keras")


@SLOW
@pytest.mark.parametrize(
    "build,size,expect",
    [
        # EfficientNetV2: depthwise convs with stride 2 and padding='same'
        (lambda keras, s: keras.applications.EfficientNetV2B0(weights=None, input_shape=(s, s, 3),
                                                              include_preprocessing=False), 64,
         ("keras.layers.DepthwiseConv2D", "same", 2)),
        # MobileNetV2: depthwise with explicit ZeroPadding + 'valid' at stride 2
        (lambda keras, s: keras.applications.MobileNetV2(weights=None, input_shape=(s, s, 3)), 64,
         ("keras.layers.DepthwiseConv2D", "valid", 2)),
        # Xception: separable convs (depthwise + pointwise)
        (lambda keras, s: keras.applications.Xception(weights=None, input_shape=(s, s, 3)), 71,
         ("keras.layers.SeparableConv2D", "same", 1)),
    ],
    ids=["EfficientNetV2B0", "MobileNetV2", "Xception"],
)
def test_every_conv_of_a_keras_application_agrees_in_every_backend(keras, build, size, expect):
    scanned = scan(build(keras, size))
    kinds = {(layer.kind, layer.spec.padding, max(layer.spec.stride)) for layer in scanned.layers}
    assert expect in kinds, sorted(kinds)
    compared = assert_every_layer_agrees(check_model(scanned), "keras model")
    assert compared  # the model's own outputs, for the layers without a nonlinear activation


def _keras_model(keras, layer, shape):
    inputs = keras.Input(shape=shape)
    return keras.Model(inputs, layer(inputs))


@pytest.mark.parametrize(
    "layer,shape",
    [
        (lambda keras: keras.layers.Conv1D(4, 3, padding="causal", dilation_rate=2, use_bias=True), (12, 2)),
        (lambda keras: keras.layers.DepthwiseConv1D(3, depth_multiplier=2, padding="same", strides=2), (11, 3)),
        (lambda keras: keras.layers.DepthwiseConv2D(3, depth_multiplier=3, padding="same", strides=2), (7, 8, 2)),
        (lambda keras: keras.layers.Conv2D(6, (2, 3), groups=3, strides=(2, 1), padding="same"), (7, 6, 3)),
        (lambda keras: keras.layers.Conv2D(4, 3, data_format="channels_first", padding="same"), (2, 6, 5)),
        (lambda keras: keras.layers.Conv3D(2, 2, padding="same", strides=2), (3, 4, 5, 1)),
        (lambda keras: keras.layers.SeparableConv1D(5, 3, depth_multiplier=2, padding="same"), (9, 3)),
        (lambda keras: keras.layers.Conv2DTranspose(4, 3, strides=2, padding="same"), (5, 6, 3)),
        (lambda keras: keras.layers.Conv2DTranspose(4, 4, strides=2, padding="same"), (5, 6, 3)),
        (lambda keras: keras.layers.Conv2DTranspose(4, 3, strides=2, padding="same", output_padding=1), (5, 6, 3)),
        (lambda keras: keras.layers.Conv2DTranspose(3, (3, 2), strides=(2, 3), padding="valid"), (4, 3, 2)),
        (lambda keras: keras.layers.Conv1DTranspose(3, 5, strides=3, padding="valid", output_padding=2), (6, 2)),
        (lambda keras: keras.layers.Conv1DTranspose(3, 1, strides=3, padding="same"), (4, 2)),
        (lambda keras: keras.layers.Conv3DTranspose(2, 2, strides=2, padding="same"), (2, 3, 3, 2)),
        (lambda keras: keras.layers.Conv2DTranspose(2, 3, strides=2, padding="same", data_format="channels_first"),
         (2, 4, 5)),
    ],
    ids=["conv1d-causal-dilated", "depthwise1d-m2", "depthwise2d-m3-stride2-same", "conv2d-groups",
         "conv2d-channels-first", "conv3d", "separable1d", "conv2d-transpose-same-k3-s2", "conv2d-transpose-same-k4-s2",
         "conv2d-transpose-same-output-padding", "conv2d-transpose-valid", "conv1d-transpose-valid-output-padding",
         "conv1d-transpose-same-stride-beyond-kernel", "conv3d-transpose-same", "conv2d-transpose-channels-first"],
)
def test_keras_layer_kinds_map_to_the_spec_their_own_output_confirms(keras, layer, shape):
    """Each layer kind's spec is confirmed by the layer's own output; where this machine's
    TensorFlow has no kernel for it (channels-first on its Eigen kernels), scanning says so in
    one line that names the declared refusal."""
    from harness.frameworks.keras.adapter import TENSORFLOW_REFUSALS
    from harness.frameworks.tensorflow.adapter import runs_eigen
    from harness.porting import CannotRunHere

    model = _keras_model(keras, layer(keras), shape)
    for variable in model.weights:  # a non-zero bias, so a dropped bias would show
        variable.assign(np.random.default_rng(1).uniform(-1, 1, variable.shape).astype("float32"))
    if (model.layers[-1].data_format == "channels_first" and keras.backend.backend() == "tensorflow"
            and runs_eigen("float32")):
        refusal = next(r for r in TENSORFLOW_REFUSALS if r.name == "channels_first_cpu")
        with pytest.raises(CannotRunHere) as info:
            scan(model)
        assert refusal.reason in str(info.value) and "\n" not in str(info.value)
        return
    scanned = scan(model)
    results = check_model(scanned)
    assert_every_layer_agrees(results, "keras model")
    if "separable" not in scanned.layers[0].kind.lower():
        assert all(r.layer.output is not None for r in results)


def test_a_keras_decoder_with_conv2d_transpose_same_stride_2_passes_in_every_backend(keras):
    inputs = keras.Input(shape=(8, 8, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inputs)
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.Conv2DTranspose(8, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.Conv2DTranspose(4, 3, strides=2, padding="same")(x)
    model = keras.Model(inputs, keras.layers.Conv2D(3, 1)(x))
    scanned = scan(model)
    assert [layer.spec.transposed for layer in scanned.layers] == [False, False, True, True, False]
    assert scanned.layers[3].spec.output_shape == (1, 8, 8, 4)
    results = check_model(scanned)
    assert {o.status for r in results for o in r.result.outcomes} == {"pass"}


@pytest.mark.needs("keras")
def test_port_keeps_tensorflows_import_banner_out_and_the_users_own_stderr_in(tmp_path):
    """A model module that imports Keras imports TensorFlow, whose C++ writes a
    oneDNN banner before any log level applies; the user's own lines stay."""
    import os
    import re
    import subprocess
    import sys

    (tmp_path / "model.py").write_text(
        "import sys\nimport keras\nprint('the user speaks', file=sys.stderr)\n"
        "def build():\n    x = keras.Input((6, 2))\n    return keras.Model(x, keras.layers.Conv1D(2, 3)(x))\n")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    run = subprocess.run([sys.executable, "-m", "harness.cli", "port", "model.py:build", "--backends", "numpy",
                          "--quiet"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "the user speaks" in run.stderr
    native = [line for line in run.stderr.splitlines() if re.match(r"[IW]\d{4} \S+ +\d+ \S+:\d+\]", line)]
    assert not native and "before absl" not in run.stderr, run.stderr


@SLOW
@pytest.mark.needs("keras")
def test_port_of_a_channels_first_keras_model_on_tensorflows_eigen_kernels_is_one_line_and_exit_2(tmp_path):
    """With oneDNN off (as by default on CPUs without AVX-512 VNNI) TensorFlow has no channels-first Conv2D on the
    CPU: the model cannot run here, which is one line naming why, exit 2, not a traceback."""
    import os
    import subprocess
    import sys

    (tmp_path / "model.py").write_text(
        "import keras\n"
        "def build():\n    x = keras.Input((2, 6, 5))\n"
        "    return keras.Model(x, keras.layers.Conv2D(3, 3, data_format='channels_first')(x))\n")
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "0", "KERAS_BACKEND": "tensorflow"}
    run = subprocess.run([sys.executable, "-m", "harness.cli", "port", "model.py:build", "--backends", "numpy",
                          "--quiet"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot run on this machine" in lines[0] and "channels-first" in lines[0], run.stderr
