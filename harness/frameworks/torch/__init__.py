"""PyTorch: ``torch.nn.functional.convNd`` and ``torch.nn.ConvNd`` (``adapter``), model
scans by forward hooks (``scan``) and the porting hooks (``models``)."""

from .. import public

BACKENDS = {
    "torch": {"adapter": "TorchFunctional", "requires": "torch", "extra": "torch"},
    "torch.nn": {"adapter": "TorchModule", "requires": "torch", "extra": "torch"},
}
PUBLIC = {"torch_release": "adapter", "cuda_count": "cuda", "describe_cuda": "cuda"}
DISTRIBUTIONS = {"torch": "torch"}
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")  # its OpenMP and MKL pools
LAYOUT_NOTES = {"channels-last": "PyTorch convolves channels-first only: "
                                 "a channels-last spec is permuted around the call"}
CUDA = {"count": "cuda_count", "describe": "describe_cuda"}  # in PUBLIC


def __getattr__(name: str):
    return public(__name__.rpartition(".")[2], name)
