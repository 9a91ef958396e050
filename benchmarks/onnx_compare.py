"""Time `compare` on a PyTorch network of 20 conv layers at 224x224 (ResNet-18's
convolutions, as in compare_speed.py) against its ONNX export (torch.onnx.export,
run in onnxruntime), on this machine's cores; prints the total (goal: within 30 s
on 2 cores) and where the time goes. The export itself is timed apart.

    python benchmarks/onnx_compare.py
"""

import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import onnxruntime
import torch

from compare_speed import Net, print_timings
from harness.porting.model_comparison import compare_models


def main():
    torch.manual_seed(0)
    model = Net().eval()
    example = torch.from_numpy(np.random.default_rng(0).uniform(-1, 1, (1, 3, 224, 224)).astype(np.float32))
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "net.onnx")
        start = time.perf_counter()
        with warnings.catch_warnings():  # the exporter's note that a newer exporter exists
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (example,), path, dynamo=False)
        exported = time.perf_counter() - start
        timings = {}
        start = time.perf_counter()
        result = compare_models(model, path, example, timings=timings)
        total = time.perf_counter() - start
    print_timings(result, total, timings, f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, "
                  f"{torch.get_num_threads()} torch threads", f"export: {exported:.1f} s (not counted)")

if __name__ == "__main__":
    main()
