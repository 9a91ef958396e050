"""compare and port on the command line: each exit status. 0 the models agree, 1 only
"the port differs", 2 input the user can fix (one line), 3 a model raised while it ran."""

from __future__ import annotations

import textwrap

import pytest

from harness.cli import MODEL_RAISED, main
from harness.porting import supported_kinds
from helpers import IMPORTS_TENSORFLOW

pytestmark = [IMPORTS_TENSORFLOW, pytest.mark.needs("torch", "keras")]

MODELS = textwrap.dedent("""
    import numpy as np, torch
    from test_compare import EXAMPLE, net, keras_port, flax_port

    CHANNELS_LAST = np.ascontiguousarray(EXAMPLE.transpose(0, 2, 3, 1))

    def torch_numpy():
        return net(), EXAMPLE  # a PyTorch model with a NumPy example

    def keras_numpy():
        import keras
        return keras_port(keras, net()), CHANNELS_LAST

    def flax_numpy():
        from flax import nnx
        return flax_port(nnx, net()), CHANNELS_LAST

    def torch_port():
        return net()

    def keras_good():
        import keras
        return keras_port(keras, net())

    def not_a_model():
        return {"weights": np.zeros(3)}

    class Raises(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)

        def forward(self, x):
            y = self.conv1(x)
            raise ZeroDivisionError("the port divides by zero")

    def raising():
        return Raises()

    def no_declared_layout():
        import keras

        class Sub(keras.Model):  # no declared input and no conv layer: nothing says its layout
            def call(self, x):
                return keras.ops.relu(x)
        return Sub()
""")


@pytest.fixture
def models(tmp_path, monkeypatch):
    (tmp_path / "cli_models.py").write_text(MODELS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    return err


@pytest.mark.parametrize("source,target", [("torch_numpy", "keras_good"), ("keras_numpy", "torch_port"),
                                           pytest.param("flax_numpy", "torch_port", marks=pytest.mark.needs("flax"))])
def test_a_source_with_a_numpy_example_compares_whatever_its_kind(models, source, target):
    assert main(["compare", f"cli_models:{source}", f"cli_models:{target}"]) == 0


@pytest.mark.parametrize("model", ["torch_numpy", "keras_numpy",
                                   pytest.param("flax_numpy", marks=pytest.mark.needs("flax"))])
def test_port_takes_a_numpy_example_for_each_model_kind(models, model):
    assert main(["port", f"cli_models:{model}", "--backends", "numpy", "--quiet"]) == 0


@pytest.mark.parametrize("command", [["compare", "cli_models:torch_numpy", "cli_models:not_a_model"],
                                     ["compare", "cli_models:not_a_model", "cli_models:torch_port",
                                      "--input-shape", "1,3,16,16"],
                                     ["port", "cli_models:not_a_model", "--backends", "numpy"]])
def test_an_object_that_is_no_model_is_one_line_naming_the_kinds_exit_2(models, capsys, command):
    assert main(command) == 2
    err = one_line_error(capsys)
    assert "a dict is not " in err and supported_kinds() in err


def test_a_wrong_input_shape_for_the_source_says_the_shape_it_was_given_exit_2(models, capsys):
    assert main(["compare", "cli_models:torch_port", "cli_models:keras_good", "--input-shape", "1,4,16,16"]) == 2
    err = one_line_error(capsys)
    assert "input-shape=1,4,16,16: SOURCE was given (1, 4, 16, 16) and raised RuntimeError" in err, err


def test_a_wrong_input_shape_for_the_target_says_the_shape_after_layout_conversion_exit_2(models, capsys):
    """The PyTorch source runs on 17x17; the Keras port declares (16, 16, 3) and is given (1, 17, 17, 3)."""
    assert main(["compare", "cli_models:torch_port", "cli_models:keras_good", "--input-shape", "1,3,17,17"]) == 2
    err = one_line_error(capsys)
    assert "TARGET was given (1, 17, 17, 3) (converted to its layout; SOURCE was given (1, 3, 17, 17))" in err, err


@pytest.mark.parametrize("command,role", [
    (["compare", "cli_models:torch_numpy", "cli_models:raising"], "TARGET (cli_models:raising)"),
    (["compare", "cli_models:raising", "cli_models:torch_port", "--input-shape", "1,3,16,16"], None),
    (["port", "cli_models:raising", "--input-shape", "1,3,16,16", "--backends", "numpy"], None)])
def test_a_model_that_raises_shows_its_own_exception_and_exits_3(models, capsys, command, role):
    status = main(command)
    err = capsys.readouterr().err
    if role is None:  # with --input-shape the shape may be what is wrong: a usage error naming it
        assert status == 2 and "raised ZeroDivisionError" in err and "(1, 3, 16, 16)" in err, err
        return
    assert status == MODEL_RAISED == 3
    assert f"ZeroDivisionError while running {role} on an input of shape (2, 3, 16, 16): " \
           "the port divides by zero" in err, err
    assert "cli_models.py" in err and "raise ZeroDivisionError" in err  # the model's own traceback
    assert "/harness/" not in err  # and none of the harness's frames


def test_a_target_whose_layout_cannot_be_read_asks_for_target_layout_exit_2(models, capsys):
    assert main(["compare", "cli_models:torch_numpy", "cli_models:no_declared_layout"]) == 2
    err = one_line_error(capsys)
    assert "target-layout: the layout a Sub takes cannot be read from it" in err
    assert "pass --target-layout channels_first or channels_last" in err
