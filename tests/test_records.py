"""Records: JSON Lines read back, a damaged line skipped and counted, a GPU record's
device and precision kept."""

import json

from harness import ConvSpec, check
from harness.records import Record, read_records

SPEC = ConvSpec(layout="NCHW", in_channels=64, out_channels=4, spatial=6, kernel=1, bias=True)


def test_a_truncated_last_line_is_skipped_and_counted(tmp_path):
    path = tmp_path / "r.jsonl"
    record = {"case": 0, "spec": {}, "seed": 0, "backend": "torch", "status": "pass"}
    path.write_text(json.dumps(record) + "\n" + json.dumps([1, 2]) + "\n" + json.dumps({**record, "status": "ok"})
                    + "\n" + '{"status": "pa')
    records, skipped = read_records([path])
    assert [r.to_dict() for r in records] == [Record(**record).to_dict()]
    assert skipped == 3  # a line that is no record, one with no known status, and a truncated line


def test_records_keep_the_device_and_precision_and_read_back(stand_ins):
    from harness.records import Record, environment

    result = check(SPEC, backends=["tf32_gpu"], device="cuda")
    record = Record.of(0, result, result.outcomes[0], environment())
    data = record.to_dict()
    assert (data["device"], data["precision"]) == ("cuda:0", "tf32")
    assert Record.from_dict(data) == record
    cpu = Record.of(0, check(SPEC, backends=["numpy"]), check(SPEC, backends=["numpy"]).outcomes[0], {}).to_dict()
    assert "device" not in cpu and "precision" not in cpu  # CPU records as they were


def _metadata_version(*dists: str) -> str | None:
    import importlib.metadata

    for dist in dists:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return None


def test_the_environment_records_the_version_of_every_framework_installed():
    from harness.records import environment

    # every framework's distribution, named by hand (Keras, Flax, Keras 2 and ONNX were once left out)
    wanted = {"numpy": ("numpy",), "torch": ("torch",), "tensorflow": ("tensorflow-cpu", "tensorflow"),
              "jax": ("jax",), "jaxlib": ("jaxlib",), "keras": ("keras",), "tf_keras": ("tf-keras",),
              "flax": ("flax",), "onnx": ("onnx",), "onnxruntime": ("onnxruntime",)}
    expected = {name: version for name, dists in wanted.items() if (version := _metadata_version(*dists))}
    assert environment()["versions"] == expected


def test_the_environment_records_the_variables_that_choose_kernels_and_no_other(monkeypatch):
    from harness.records import environment

    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_enable_fast_math=false")
    monkeypatch.setenv("CONVHARNESS_UNRELATED", "1")
    assert environment()["variables"] == {"TF_ENABLE_ONEDNN_OPTS": "0",
                                          "XLA_FLAGS": "--xla_cpu_enable_fast_math=false"}
