"""Standalone reproducers: a short script that imports only NumPy and one
framework, builds the exact inputs, makes the call the backend made (rendered
from the same value that ran), and prints the result, the float64 reference
and their difference. A declared refusal prints ``refused: ...`` and exits 0;
anything else the framework raises propagates, with a non-zero exit.

The reference is inlined (or loaded with a port layer's inputs), so the script
does not need convharness; the inputs come from the seed (plain NumPy) or are
inlined.
"""

from __future__ import annotations

import base64
import inspect
import os
from pathlib import Path

import numpy as np

from . import tolerance
from .calls import Rendered
from .inputs import inputs_code, make_cotangent, make_inputs
from .records import Record, SavedInputs, decode_array
from .spec import ConvSpec
from .status import Status

RESULT_MARK = "max_abs_error = "
REFUSED_MARK = "refused: "

# A port layer's inputs of at most this many bytes are inlined in its reproducer,
# so a report's page works wherever it is moved; larger ones are loaded from their
# .npz, by a path relative to the page.
INLINE_INPUTS_BYTES = 256 * 1024


def _inline(name: str, array: np.ndarray) -> str:
    """``name = <array>`` as one line of NumPy that rebuilds it bit for bit."""
    array = np.ascontiguousarray(array)
    dtype = "ml_dtypes.bfloat16" if array.dtype.name == "bfloat16" else repr(array.dtype.str)
    data = base64.b64encode(array.tobytes()).decode("ascii")
    return f'{name} = np.frombuffer(base64.b64decode("{data}"), dtype={dtype}).reshape({array.shape}).copy()'


def _input_lines(spec: ConvSpec, seed: int | None, inputs, exact: bool, inputs_file: str | None,
                 cotangent: bool = False) -> list[str]:
    if cotangent:  # a gradient outcome: its cotangent is drawn from the seed, after the inputs
        if seed is None:
            raise ValueError("quantity: a gradient's reproducer draws dy from the seed; its inputs must be the seed's")
        return inputs_code(spec, seed, cotangent=True)
    if inputs_file is not None:
        return [f"data = np.load({inputs_file!r})",
                'x, w, b = data["x"], data["w"], (data["b"] if "b" in data.files else None)']
    if inputs is None:
        return inputs_code(spec, seed, exact=exact)
    lines = ["import ml_dtypes"] if spec.dtype == "bfloat16" else []
    for name, array in zip("xwb", inputs):
        if array is not None:
            lines.append(_inline(name, array))
    return lines


def _variable_lines(variables: dict) -> list[str]:
    """Settings that were in force where the outcome was recorded, set before any import."""
    if not variables:
        return []
    return ["import os", *(f"os.environ[{k!r}] = {v!r}" for k, v in sorted(variables.items()))]


def _guarded(call: Rendered) -> list[str]:
    """The call's body; where the framework may refuse the spec in a declared way,
    inside a try that catches only that refusal (its patterns written in)."""
    body = list(call.body) or ["pass"]
    if not call.refusals:
        return body
    pattern = "|".join(f"(?:{p})" for p in call.refusals)
    return ["try:", *("    " + line for line in body),
            "except Exception as exc:  # only the refusals the adapter declares; anything else propagates",
            f"    if not re.search({pattern!r}, str(exc)):",
            "        raise",
            f'    print("{REFUSED_MARK}" + str(exc).strip().splitlines()[0])',
            "    raise SystemExit(0)"]


# the comparison as the harness makes it, written into each script from its own source
WORST_ELEMENT = [line for f in (tolerance.absolute_error, tolerance.error_ratios, tolerance.worst_element)
                 for line in (*inspect.getsource(f).splitlines(), "")]


def _bound(spec: ConvSpec, seed: int | None, inputs, exact: bool, precision: str, expected,
           quantity: str = "y") -> np.ndarray:
    """The bound the harness held the result to, from the same inputs the script builds
    (a gradient's, at the seed's cotangent, for ``quantity`` dx, dw or db)."""
    from .check import Bounds

    x, w, b = make_inputs(spec, seed, exact=exact) if inputs is None else inputs
    dy = None if quantity == "y" else make_cotangent(spec, seed)
    return Bounds(spec, x, w, b, exact, expected, dy, quantity)(precision)


def reproducer(
    spec: ConvSpec, backend: str, call: Rendered, *, seed: int | None = 0, inputs=None, expected=None,
    status: str = "", recorded: str = "", variables: dict | None = None, exact: bool = False,
    inputs_file: str | None = None, expected_in_file: bool = False, precision: str = "", quantity: str = "y",
) -> str:
    """The script that makes ``call`` (as the backend ran it) on ``spec`` with the
    data of ``seed``, or with ``inputs=(x, w, b)`` inlined, or loaded from
    ``inputs_file`` (an .npz with x, w and b, as ``port`` saves them; ``inputs``
    then are its arrays, as read by the caller), and compares the result with
    ``expected``, the float64 reference (or the .npz's own, where
    ``expected_in_file``): the max abs error, and where ``expected`` is inlined,
    the worst element by the bound of ``precision`` ("tf32", or "" for the spec's
    dtype). Reads no file: what it needs is given. For a gradient ``quantity`` (dx,
    dw or db) ``call`` is the gradient call, the seed's cotangent ``dy`` is built after
    the inputs, and ``expected`` is that gradient's float64 reference (reference_vjp)."""
    if inputs_file is not None and expected_in_file:  # the reference saved beside the inputs: large layers stay out
        expected_lines = ['expected = data["expected"]', "bound = None  # not inlined: the layer is large"]
    elif expected is not None:
        expected = np.asarray(expected, np.float64)
        bound = _bound(spec, seed, inputs, exact, precision, expected, quantity)
        source = "harness.tolerance.error_bound" if quantity == "y" else f"harness.gradients.gradient_bounds: {quantity}"
        expected_lines = [_inline("expected", expected),
                          f"# the bound each element is held to ({source})",
                          _inline("bound", bound)]
    else:
        expected_lines = ["expected = None  # not kept: the output is too large to inline"]
    of = "" if quantity == "y" else f" gradient {quantity} of <y, dy>"
    header = [f"Reproduces convharness {backend}{of} {status or 'outcome'}: {spec.describe()}"]
    if recorded:
        header.append(f"Recorded: {recorded}")
    header.append(f"Spec: {spec.to_json()}" + (f"  seed: {seed}" if inputs is None and inputs_file is None else ""))
    body = "\n".join(
        ["import base64", "import re", *_variable_lines(variables or {}), "", "import numpy as np", *call.imports, "",
         "# the inputs, in the spec's layout; weights (out, in/groups, *kernel)"
         + ("; dy, the cotangent, shaped like the output" if quantity != "y" else ""),
         *_input_lines(spec, seed, inputs, exact, inputs_file, quantity != "y"), "",
         "# the float64 reference computed by convharness" + (f": {quantity} in the neutral weight order"
                                                              if quantity == "dw" else ""),
         *expected_lines, "",
         "# how convharness compares (harness.tolerance): the worst element has the largest error/bound",
         *WORST_ELEMENT,
         f"# the call {backend} made, as it ran",
         *call.scoped((*call.inputs, *_guarded(call), *call.outputs)), "",
         f'print("result:", np.asarray({quantity}, dtype=np.float64).ravel()[:8], "...")',
         "if expected is not None:",
         f"    error = absolute_error(expected, np.asarray({quantity}, dtype=np.float64))",
         '    print("expected:", expected.ravel()[:8], "...")',
         f'    print("{RESULT_MARK}" + repr(float(error.max())) if error.size else "{RESULT_MARK}0.0")',
         "    if bound is not None:",
         '        print("worst index:", worst_element(error, bound))'],
    )
    quoted = "\n".join(line.replace('"""', "'''") for line in header)
    return f'"""{quoted}\n"""\n{body}\n'


def record_reproducer(record: Record, saved: SavedInputs | None, folder: str | Path) -> tuple[str, str]:
    """The standalone script for a record, rendered from the call it stores, and how it
    gets its inputs where that is not the seed. A port layer's inputs (``saved``, what
    the record's ``inputs`` names, read beforehand) are inlined when small, else loaded
    from their .npz by a path relative to ``folder``, where the script is to run."""
    if record.invocation is None or not record.invocation.body:
        return "# no reproducer: the backend raised before it made a call", ""
    options = dict(seed=record.seed, status=str(record.status), recorded=_recorded(record), exact=record.exact,
                   variables=record.environment.get("variables", {}), precision=record.precision,
                   quantity=record.quantity,
                   expected=None if record.expected is None else decode_array(record.expected))
    inputs = ""
    try:
        if record.inputs:
            saved = saved or SavedInputs(error=f"inputs: {record.inputs} was not read")
            if saved.error:
                return f"# no reproducer: {saved.error}", inputs
            if saved.nbytes <= INLINE_INPUTS_BYTES:
                if options["expected"] is None:  # too large for the record: port saved it with the inputs
                    options["expected"] = saved.expected
                inputs = "the layer's inputs are inlined in the script"
            else:
                relative = os.path.relpath(record.inputs, folder)
                options.update(inputs_file=relative, expected_in_file=saved.expected is not None)
                inputs = (f"the layer's inputs are loaded from {relative}, relative to this page: keep that "
                          "folder beside the page and run the script from the page's folder")
            options.update(seed=None, inputs=saved.arrays)
        return reproducer(record.conv_spec, record.backend, record.invocation, **options), inputs
    except ValueError as exc:
        return f"# no reproducer: {exc}", inputs


def _recorded(record: Record) -> str:
    """What the record says happened, for the script's header."""
    if record.status == Status.UNSUPPORTED:
        return f"unsupported ({record.message})"
    ratio = "-" if record.ratio is None else f"{record.ratio:.3g}"
    return (f"{record.status}, max abs error {record.max_abs_error!r}, "
            f"error/bound {ratio} ({record.backend} {record.version})")
