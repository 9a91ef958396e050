"""The probes that decide where a known framework bug is expected, with the
machine's condition faked: a bug is excused only where its code path runs."""

import pytest

import known_failures
from harness import ConvSpec
from harness.check import CheckResult, Outcome
from helpers import assert_all_agree, imported
from known_failures import KNOWN_FAILURES, cpu_flags, known_failure

BY_NAME = {k.name: k for k in KNOWN_FAILURES}


def test_cpu_flags_are_the_words_of_the_flags_line(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16 amx_bf16\nbugs\t\t: spectre\n")
    assert cpu_flags(str(cpuinfo)) == {"fpu", "avx512f", "avx512_bf16", "amx_bf16"}
    assert cpu_flags(str(tmp_path / "absent")) == frozenset()


@pytest.fixture
def torch():
    return imported("torch")


@pytest.mark.parametrize("flags,isa", [({"avx512_bf16", "amx_bf16", "amx_tile"}, "amx_bf16"),
                                       ({"avx512_bf16"}, "avx512_bf16"), (set(), None)])
@pytest.mark.filterwarnings("ignore:TF32 acceleration on top of oneDNN")
def test_the_onednn_bfloat16_probe_follows_the_cpu_flags_and_the_mkldnn_switch(torch, monkeypatch, flags, isa):
    monkeypatch.setattr(known_failures, "cpu_flags", lambda: frozenset(flags))
    for candidate in ("amx_bf16", "avx512_bf16"):
        assert known_failures.torch_runs_onednn_bf16(candidate) == (candidate == isa)
        with torch.backends.mkldnn.flags(enabled=False):
            assert not known_failures.torch_runs_onednn_bf16(candidate)


def _result(spec: ConvSpec, backend: str) -> CheckResult:
    return CheckResult(spec, 0, (Outcome(backend=backend, status="mismatch", ratio=86.2, max_abs_error=0.5),))


@pytest.mark.parametrize("backend", ["torch", "torch.nn"])
def test_a_torch_bfloat16_mismatch_is_excused_on_an_amx_cpu_only(torch, monkeypatch, backend):
    amx = BY_NAME["onednn_amx_bfloat16"]
    spec = ConvSpec(**amx.example)
    monkeypatch.setattr(known_failures, "cpu_flags", lambda: frozenset({"avx512_bf16", "amx_bf16"}))
    assert known_failure(backend, spec) is amx
    assert_all_agree(_result(spec, backend))
    assert known_failure(backend, spec.replace(dtype="float32")) is None
    with pytest.raises(AssertionError, match=r"float32.*--backends " + backend.replace(".", r"\.")):
        assert_all_agree(_result(spec.replace(dtype="float32"), backend))
    monkeypatch.setattr(known_failures, "cpu_flags", lambda: frozenset({"avx512_bf16"}))
    assert known_failure(backend, spec) is None  # no AMX: this spec is no known bug, so a mismatch fails
    with pytest.raises(AssertionError, match=r"mismatch \(err/bound 86.2"):
        assert_all_agree(_result(spec, backend))
    assert known_failure("jax", spec) is None


def test_the_channels_last_single_column_bug_needs_avx512_bf16_without_amx(torch, monkeypatch):
    known = BY_NAME["onednn_bfloat16_channels_last_single_output_column"]
    spec = ConvSpec(**known.example)
    for flags, expected in (({"avx512_bf16"}, known), ({"avx512_bf16", "amx_bf16"}, BY_NAME["onednn_amx_bfloat16"]),
                            (set(), None)):
        monkeypatch.setattr(known_failures, "cpu_flags", lambda: frozenset(flags))
        assert known_failure("torch", spec) is expected
    monkeypatch.setattr(known_failures, "cpu_flags", lambda: frozenset({"avx512_bf16"}))
    assert known_failure("torch", spec.replace(layout="NCHW")) is None
    assert known_failure("torch", spec.replace(in_channels=2)) is None  # two input channels per group
    assert known_failure("torch", spec.replace(spatial=(7, 6))) is None  # two output columns
    assert known_failure("torch", spec.replace(spatial=(4, 4))) is None  # one output row in all
