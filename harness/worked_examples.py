"""The worked examples of the discussion this project grew from, as specs with data.

Each comes with the result stated there (computed by hand from the data), so
they are golden values from outside the harness.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .spec import ConvSpec


@dataclasses.dataclass(frozen=True)
class WorkedExample:
    """One worked example: its spec, data and the result stated for it."""

    name: str
    spec: ConvSpec
    x: np.ndarray
    w: np.ndarray
    expected: np.ndarray | None  # the stated result, where one is stated
    expected_shape: tuple[int, ...]


_C1 = [[0, 0, 1, 0, 2], [1, 0, 2, 0, 1], [1, 0, 2, 2, 0], [2, 0, 0, 2, 0], [2, 1, 2, 2, 0]]
_C2 = [[2, 1, 2, 1, 1], [2, 1, 2, 0, 1], [0, 2, 1, 0, 1], [1, 2, 2, 2, 2], [0, 1, 2, 0, 1]]
_C3 = [[2, 1, 1, 2, 0], [1, 0, 0, 1, 0], [0, 1, 0, 0, 0], [1, 0, 2, 1, 0], [2, 2, 1, 1, 1]]
_F1 = [[0, 1, -1], [0, -1, 0], [0, -1, 1]]
_F2 = [[-1, 0, 0], [1, -1, 0], [1, -1, 0]]
_F3 = [[-1, 1, -1], [0, -1, -1], [1, 0, 0]]

# "cat sitting there dog resting here": one 3-dim embedding per word.
_SENTENCE = [
    [0.7, 0.4, 0.5], [0.2, -0.1, 0.1], [-0.5, 0.4, 0.1],
    [0.6, 0.3, 0.5], [0.3, -0.1, 0.2], [-0.5, 0.4, 0.1],
]
_WORD_FILTER = [[0.6, 0.2], [0.4, -0.1], [0.5, 0.2]]  # (in_channels=3, width=2)


def worked_examples(dtype: str = "float32") -> tuple[WorkedExample, ...]:
    """The four examples; ``dtype`` applies where the data allow it exactly."""
    image = ConvSpec(layout="NCHW", in_channels=3, out_channels=1, spatial=5, kernel=3,
                     stride=2, padding=1, dtype=dtype)
    words = ConvSpec(layout="NWC", in_channels=3, out_channels=1, spatial=6, kernel=2,
                     stride=2, padding="valid", dtype="float64")
    words_2d = ConvSpec(layout="NHWC", in_channels=3, out_channels=1, spatial=(1, 6), kernel=(1, 2),
                        stride=(1, 2), padding="valid", dtype="float64")
    pointwise = ConvSpec(layout="NCW", in_channels=100, out_channels=1, spatial=4, kernel=1, dtype=dtype)
    sentence = np.array([_SENTENCE])
    word_filter = np.array([_WORD_FILTER])
    rng = np.random.default_rng(0)
    return (
        WorkedExample(
            "conv2d 3-channel 5x5, 3x3 filter, stride 2, padding 1",
            image,
            np.array([[_C1, _C2, _C3]], dtype=dtype),
            np.array([[_F1, _F2, _F3]], dtype=dtype),
            np.array([[[[-8, -8, -3], [-3, 1, 0], [-3, -8, -5]]]], dtype=float),
            (1, 1, 3, 3),
        ),
        WorkedExample(
            "conv1d sentence, width-2 filter, stride 2, VALID",
            words,
            sentence,
            word_filter,
            np.array([[[0.9], [0.1], [0.12]]]),
            (1, 3, 1),
        ),
        WorkedExample(
            "conv2d sentence reshaped to height 1",
            words_2d,
            sentence.reshape(1, 1, 6, 3),
            word_filter.reshape(1, 3, 1, 2),
            np.array([[[[0.9], [0.1], [0.12]]]]),
            (1, 1, 3, 1),
        ),
        WorkedExample(
            "Conv1d in_channels=100, out_channels=1, kernel 1 on (1, 100, 4)",
            pointwise,
            rng.standard_normal(pointwise.input_shape).astype(dtype),
            rng.standard_normal(pointwise.weight_shape).astype(dtype),
            None,
            (1, 1, 4),
        ),
    )
