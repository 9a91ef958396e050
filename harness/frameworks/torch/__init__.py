"""PyTorch: ``torch.nn.functional.convNd`` and ``torch.nn.ConvNd`` (``adapter``), model
scans by forward hooks (``scan``) and the porting hooks (``models``)."""

from .. import public

BACKENDS = {
    "torch": {"adapter": "TorchFunctional", "requires": "torch", "extra": "torch"},
    "torch.nn": {"adapter": "TorchModule", "requires": "torch", "extra": "torch"},
}
PUBLIC = {"torch_release": "adapter"}


def __getattr__(name: str):
    return public(__name__.rpartition(".")[2], name)
