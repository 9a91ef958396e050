"""Deterministic test data for a spec, exactly representable in its dtype."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import ml_dtypes

from .dtypes import numpy_dtype
from .spec import ConvSpec

EXACT_MAX = 8  # exact data are integers in [-EXACT_MAX, EXACT_MAX] at most


def exact_limit(dtype: str) -> int:
    """The largest integer below which every integer is exact in ``dtype``: 2**(mantissa bits + 1)."""
    return 2 ** (ml_dtypes.finfo(numpy_dtype(dtype)).nmant + 1)


def exact_magnitude(spec: ConvSpec) -> int:
    """The largest a <= EXACT_MAX such that integers in [-a, a] make every product and
    partial sum exact in the spec's dtype: K*a*a + a <= 2**(mantissa bits + 1), with
    K = in_channels/groups * kernel volume products per output (plus the bias)."""
    limit, k = exact_limit(spec.dtype), spec.reduction_length
    a = EXACT_MAX
    while a >= 1 and k * a * a + a > limit:
        a -= 1
    if a < 1:
        raise ValueError(
            f"exact=True: {spec.dtype} holds integers exactly only up to {limit}, but {k} products of +-1 "
            f"plus a bias can reach {k + 1}; use a wider dtype or a smaller kernel/channel count"
        )
    return a


def can_be_exact(spec: ConvSpec) -> bool:
    """Whether ``spec``'s dtype can hold its sums exactly on integer data (``exact=True``)."""
    try:
        exact_magnitude(spec)
    except ValueError:
        return False
    return True


def _draws(spec: ConvSpec):
    return (("x", spec.input_shape), ("w", spec.weight_shape), ("b", spec.bias_shape))


def make_inputs(spec: ConvSpec, seed: int = 0, *, exact: bool = False):
    """Return ``(x, w, b)`` in ``spec.dtype``; ``b`` is None without bias.

    Values are drawn uniformly from [-1, 1) in float64 and rounded to the
    spec's dtype, so the float64 reference sees exactly the values every
    framework sees. With ``exact=True`` they are integers in [-a, a]
    (``exact_magnitude``), so every product and partial sum is exact in the
    dtype and every backend must equal the reference exactly.
    """
    rng = np.random.default_rng(seed)
    dtype = numpy_dtype(spec.dtype)
    if exact:
        a = exact_magnitude(spec)
        draw = lambda shape: rng.integers(-a, a + 1, size=shape).astype(dtype)  # noqa: E731
    else:
        draw = lambda shape: rng.uniform(-1.0, 1.0, size=shape).astype(dtype)  # noqa: E731
    x, w, b = (None if shape is None else draw(shape) for _, shape in _draws(spec))
    return x, w, b


def make_cotangent(spec: ConvSpec, seed: int = 0) -> np.ndarray:
    """The cotangent ``dy`` a gradient check pulls back (shaped like the output, in the
    spec's dtype): drawn as the inputs are, by the same generator after x, w and b, so
    ``make_inputs(spec, seed)`` is unchanged by it and one seed gives all four."""
    rng = np.random.default_rng(seed)
    for _, shape in _draws(spec):
        if shape is not None:
            rng.uniform(-1.0, 1.0, size=shape)
    return rng.uniform(-1.0, 1.0, size=spec.output_shape).astype(numpy_dtype(spec.dtype))


def inputs_code(spec: ConvSpec, seed: int, *, exact: bool = False, cotangent: bool = False) -> list[str]:
    """Lines of plain NumPy that build exactly ``make_inputs(spec, seed, exact=exact)``
    (and, with ``cotangent``, ``dy = make_cotangent(spec, seed)`` after them)."""
    dtype = "ml_dtypes.bfloat16" if spec.dtype == "bfloat16" else repr(spec.dtype)
    lines = ["import ml_dtypes"] if spec.dtype == "bfloat16" else []
    lines.append(f"rng = np.random.default_rng({seed})")
    if exact:
        a = exact_magnitude(spec)
        draw = f"rng.integers({-a}, {a + 1}, size={{}}).astype({dtype})"
    else:
        draw = f"rng.uniform(-1.0, 1.0, size={{}}).astype({dtype})"
    lines += [f"{name} = {draw.format(shape)}" for name, shape in _draws(spec) if shape is not None]
    if cotangent:
        lines.append(f"dy = rng.uniform(-1.0, 1.0, size={spec.output_shape}).astype({dtype})")
    return lines


def holds_exactly(spec: ConvSpec, x, w, b) -> bool:
    """Whether these inputs are integers small enough that the convolution is exact in the dtype."""
    arrays = [np.asarray(a, np.float64) for a in (x, w, np.zeros(1) if b is None else b)]
    if not all(np.array_equal(a, np.round(a)) for a in arrays):
        return False
    px, pw, pb = (float(np.abs(a).max(initial=0.0)) for a in arrays)
    return spec.reduction_length * px * pw + pb <= exact_limit(spec.dtype)


def load_inputs(path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(x, w, b)`` from an .npz holding x and w (and b with bias), as ``port`` saves them."""
    data = _load(path, "inputs", "an .npz of arrays x and w (and b with bias)")
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ValueError(f"inputs: {path} is one array, not an .npz of arrays x and w (and b with bias)")
    with data:
        missing = {"x", "w"} - set(data.files)
        if missing:
            raise ValueError(f"inputs: {path} needs arrays x and w (and b with bias); missing {sorted(missing)}")
        return data["x"], data["w"], data["b"] if "b" in data.files else None


def load_array(path, field: str = "observed") -> np.ndarray:
    """One array from an .npy file."""
    data = _load(path, field, "an .npy array")
    if not isinstance(data, np.ndarray):
        data.close()
        raise ValueError(f"{field}: {path} is an .npz archive, not an .npy array")
    return data


def _load(path, field: str, what: str):
    """``np.load`` without pickles: a file that is no NumPy file is named as such."""
    if not Path(path).is_file():
        raise ValueError(f"{field}: no such file {path}")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError):
        raise ValueError(f"{field}: {path} is not {what}") from None


def validate_inputs(spec: ConvSpec, x, w, b) -> None:
    """Raise ValueError naming the array whose shape does not fit ``spec``."""
    for name, array, shape in (("x", x, spec.input_shape), ("w", w, spec.weight_shape), ("b", b, spec.bias_shape)):
        got = None if array is None else tuple(np.shape(array))
        if got != shape:
            raise ValueError(f"{name}: shape {got} does not fit the spec, which needs {shape}")
