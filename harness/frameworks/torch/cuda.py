"""The CUDA devices PyTorch sees (the package's ``CUDA`` hooks, asked by ``harness.devices``)."""

from __future__ import annotations

import importlib.util


def cuda_count() -> int:
    """The CUDA devices PyTorch sees, asked of NVML where it can: CUDA is not initialised."""
    if importlib.util.find_spec("torch") is None:
        return 0
    import torch

    return torch.cuda.device_count()


def describe_cuda(index: int) -> dict:
    """CUDA device ``index`` as PyTorch tells it: its name, compute capability, and the CUDA
    and cuDNN versions PyTorch was built with."""
    import torch

    major, minor = torch.cuda.get_device_capability(index)
    return {"name": torch.cuda.get_device_name(index), "capability": f"{major}.{minor}",
            "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version()}
