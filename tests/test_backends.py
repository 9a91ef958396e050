"""Adapters: output shapes, agreement, dtypes, declared refusals and honest errors."""

import itertools

import numpy as np
import pytest

from harness import ConvSpec, Unsupported, check, make_inputs, run_backend
from harness.backends import REGISTRY, get_backend
from harness.dtypes import numpy_dtype
from helpers import FRAMEWORK_BACKENDS, IMPORTS_TENSORFLOW, LAYER_BACKENDS, assert_all_agree, refused_here

pytestmark = IMPORTS_TENSORFLOW

LAYOUTS = ["NCW", "NWC", "NCHW", "NHWC", "NCDHW", "NDHWC"]


def paddings(rank):
    kinds = ["valid", "same", ((1, 2),) * rank]
    return kinds + (["causal"] if rank == 1 else [])


SHAPE_CASES = [
    (layout, padding, stride, dilation)
    for layout in LAYOUTS
    for padding in paddings(len(layout) - 2)
    for stride, dilation in itertools.product((1, 2), (1, 2))
]


@pytest.mark.parametrize("layout,padding,stride,dilation", SHAPE_CASES)
def test_every_backend_gives_the_spec_output_shape_and_agrees(layout, padding, stride, dilation):
    rank = len(layout) - 2
    spec = ConvSpec(layout=layout, batch=2, in_channels=2, out_channels=3, spatial=(7, 6, 5)[:rank],
                    kernel=(2, 3, 2)[:rank], stride=stride, dilation=dilation, padding=padding, bias=True)
    result = check(spec, seed=3)
    assert_all_agree(result)
    for outcome in result.outcomes:
        if outcome.status != "unsupported":
            assert outcome.shape == spec.output_shape, (outcome.backend, outcome.shape, spec.output_shape)


TRANSPOSED_CASES = [
    (layout, padding, stride, dilation)
    for layout in LAYOUTS
    for padding in ["valid", "same", ((1, 2),) * (len(layout) - 2)]
    for stride, dilation in itertools.product((1, 2), (1, 2))
]


@pytest.mark.parametrize("layout,padding,stride,dilation", TRANSPOSED_CASES)
def test_every_backend_gives_the_transposed_output_shape_and_agrees(layout, padding, stride, dilation):
    rank = len(layout) - 2
    spec = ConvSpec(layout=layout, batch=2, in_channels=4, out_channels=2, spatial=(5, 4, 3)[:rank],
                    kernel=(3, 2, 2)[:rank], stride=stride, dilation=dilation, padding=padding, bias=True,
                    groups=2 if stride == dilation else 1, transposed=True,
                    output_padding=0 if padding == "same" else max(stride, dilation) - 1)
    result = check(spec, seed=5)
    assert_all_agree(result)
    for outcome in result.outcomes:
        if outcome.status != "unsupported":
            assert outcome.shape == spec.output_shape, (outcome.backend, outcome.shape, spec.output_shape)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_backend_fills_padding_by_the_mode_and_agrees(layout, mode):
    rank = len(layout) - 2
    for padding in ("same", ((2, 1),) * rank, 1):
        spec = ConvSpec(layout=layout, in_channels=2, out_channels=3, spatial=(6, 5, 4)[:rank],
                        kernel=(3, 2, 2)[:rank], stride=(2, 1, 1)[:rank], padding=padding, padding_mode=mode, bias=True)
        result = check(spec, seed=7)
        assert_all_agree(result)
        assert {o.status for o in result.outcomes} == {"pass"}, spec.describe()


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
@pytest.mark.parametrize("backend", ("numpy", *FRAMEWORK_BACKENDS))
def test_backends_keep_the_dtype(backend, dtype):
    spec = ConvSpec(layout="NHWC", in_channels=3, out_channels=4, spatial=5, kernel=3,
                    padding="same", bias=True, dtype=dtype)
    if refused_here(backend, spec):  # no kernel for the dtype here: refused as declared, not computed
        with pytest.raises(Unsupported):
            run_backend(backend, spec, *make_inputs(spec))
        return
    y = run_backend(backend, spec, *make_inputs(spec))
    assert y.dtype == numpy_dtype(dtype)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_grouped_depthwise_and_multiplier_agree_in_every_dtype(dtype):
    for groups, out in ((4, 4), (4, 8), (2, 6)):
        spec = ConvSpec(layout="NHWC", in_channels=4, out_channels=out, spatial=(6, 5), kernel=3,
                        stride=(2, 1), padding="same", groups=groups, bias=True, dtype=dtype)
        assert_all_agree(check(spec, seed=groups))


DECLARED = [
    (name, refusal)
    for name in FRAMEWORK_BACKENDS + LAYER_BACKENDS
    for refusal in get_backend(name).refusals
]


@pytest.mark.parametrize("backend,refusal", DECLARED, ids=[f"{b}-{r.name}" for b, r in DECLARED])
def test_declared_refusal_is_what_the_framework_does(backend, refusal):
    """Each declared refusal's example is refused with that refusal where this machine runs
    the refusing code path (its probe), and computed right where it does not; a declaration
    whose code path runs here and no longer refuses fails, so it cannot outlive the refusal."""
    spec = ConvSpec(**refusal.example)
    assert refusal.applies(spec)
    outcome = check(spec, backends=[backend]).outcomes[0]
    if not refusal.present(spec):
        assert outcome.status == "pass", f"{refusal.name}: the code path without the refusal fails here: {outcome}"
        return
    assert outcome.status != "pass", (
        f"{backend} {get_backend(backend).version()} no longer refuses ({refusal.reason}): remove the declaration, "
        "or narrow its probe (Refusal.present) to the code paths that still refuse")
    assert outcome.status == "unsupported", outcome
    with pytest.raises(Unsupported) as info:
        run_backend(backend, spec, *make_inputs(spec))
    assert info.value.refusal is refusal
    assert "{{function_node" not in info.value.framework_message


@pytest.mark.parametrize("backend", FRAMEWORK_BACKENDS)
def test_unrecognised_framework_errors_propagate_and_check_reports_them(backend, monkeypatch):
    spec = ConvSpec(layout="NCHW", in_channels=2, out_channels=2, spatial=4, kernel=2)
    x, w, _ = make_inputs(spec)
    wrong_w = np.ones((2, 3, 2, 2), dtype=w.dtype)  # in/groups does not match the input
    with pytest.raises(Exception) as info:
        run_backend(backend, spec, x, wrong_w)
    assert not isinstance(info.value, Unsupported)
    adapter = get_backend(backend)
    execute = adapter.execute  # the framework gets the wrong weight; the reference the right one
    monkeypatch.setattr(adapter, "execute", lambda call, x, w, b: execute(call, x, wrong_w, b))
    (outcome,) = check(spec, backends=[backend], inputs=(x, w, None)).outcomes
    assert outcome.status == "error" and outcome.message.startswith(f"{type(info.value).__name__}: ")
    assert outcome.invocation is not None and outcome.native  # the call that raised, as it was made


def test_check_names_an_input_that_does_not_fit_the_spec():
    spec = ConvSpec(layout="NCHW", in_channels=2, out_channels=2, spatial=4, kernel=2)
    x, w, _ = make_inputs(spec)
    with pytest.raises(ValueError, match=r"^w: shape \(2, 3, 2, 2\) does not fit"):
        check(spec, inputs=(x, np.ones((2, 3, 2, 2)), None))


@pytest.fixture
def wrong_backends(monkeypatch):
    from harness.backends import Entry

    monkeypatch.setitem(REGISTRY, "flipped", Entry("fake_backends:FlippedKernel", "numpy"))
    monkeypatch.setitem(REGISTRY, "wrong-shape", Entry("fake_backends:WrongShape", "numpy"))
    monkeypatch.setitem(REGISTRY, "crashing", Entry("fake_backends:Crashing", "numpy"))


def test_check_catches_a_flipped_kernel_and_a_wrong_shape(wrong_backends):
    spec = ConvSpec(layout="NCHW", in_channels=2, out_channels=2, spatial=5, kernel=3)
    result = check(spec, backends=["numpy", "flipped", "wrong-shape", "crashing"])
    assert [o.status for o in result.outcomes] == ["pass", "mismatch", "shape_mismatch", "error"]
    assert result["crashing"].message == "RuntimeError: segfault avoided"
    assert result["flipped"].ratio > 1 and not result.ok


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(ValueError, match="^backend='mxnet': unknown"):
        run_backend("mxnet", ConvSpec(layout="NCW", in_channels=1, out_channels=1, spatial=3, kernel=1),
                    np.ones((1, 1, 3)), np.ones((1, 1, 1)))
