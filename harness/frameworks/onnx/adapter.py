"""onnxruntime: a spec as a one-node ONNX graph (``Conv`` or ``ConvTranspose``) run in
onnxruntime's CPU execution provider.

What is special: ONNX convolves channels-first only (channels-last specs are permuted
around the call); every zero padding is native (``pads`` lists the begins of the
spatial axes, then their ends), and a padding mode that fills is a ``Pad`` node
(reflect, edge, wrap) before the conv in the same graph, as an exporter writes it; a
transposed spec's crops are ConvTranspose's ``pads`` and its output padding the
attribute of that name. Weights and bias are initializers, as an exported model holds
them. The graph declares opset 21: Conv and ConvTranspose compute as they have since
opset 11, Pad's wrap mode (circular padding) needs 19, and 21 is the newest opset that
onnxruntime 1.20, the oldest release the onnx extra admits, supports (opset 22 only adds
bfloat16 to Conv's types, and onnxruntime has no bfloat16 CPU kernel at any opset). The
graph runs forward only.
"""

from __future__ import annotations

import functools

from ...calls import Item, Ref, Step, Var, call
from ...layouts import channels_first_layout
from ...spec import ConvSpec
from ...backends.base import Backend, OneLayout, Refusal, no_autodiff, release, tensor_names

OPSET = 21
IR_VERSION = 10  # the oldest IR that carries opset 21 (onnx.helper.find_min_ir_version_for)
PROVIDERS = ["CPUExecutionProvider"]
FATAL = 4  # SessionOptions.log_severity_level: only fatal errors are logged
ELEMENT_TYPES = {"float16": "FLOAT16", "bfloat16": "BFLOAT16", "float32": "FLOAT", "float64": "DOUBLE"}
PAD_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}  # ONNX Pad's names
TYPE_NAMES = {"float16": "float16", "bfloat16": "bfloat16", "float32": "float", "float64": "double"}  # tensor(...)
NO_KERNEL = r"Could not find an implementation for (Conv|ConvTranspose)\(\d+\)"


@functools.cache
def cpu_kernel_types(op: str, opset: int | None) -> frozenset[str] | None:
    """The element types (``tensor(float)``...) of onnxruntime's CPU kernels for ``op`` at ``opset``
    (at any opset for None), as its kernel registry lists them; None where it lists none."""
    from onnxruntime.capi import _pybind_state

    listing = getattr(_pybind_state, "get_all_opkernel_def", None)
    if listing is None:
        return None
    return frozenset(kind for kernel in listing()
                     if kernel.op_name == op and kernel.domain in ("", "ai.onnx")
                     and kernel.provider == "CPUExecutionProvider"
                     and (opset is None or kernel.version_range[0] <= opset <= kernel.version_range[1])
                     for kind in kernel.type_constraints.get("T", ()))


def lacks_cpu_kernel(spec: ConvSpec, opset: int | None = OPSET) -> bool:
    """Whether this onnxruntime has no CPU kernel for the spec's op in its dtype at ``opset`` (where
    its registry lists none: as onnxruntime 1.31.1, which lacks it)."""
    types = cpu_kernel_types("ConvTranspose" if spec.transposed else "Conv", opset)
    return types is None or f"tensor({TYPE_NAMES[spec.dtype]})" not in types


def _example(dtype: str) -> dict:
    return dict(layout="NCHW", in_channels=1, out_channels=1, spatial=3, kernel=2, dtype=dtype)


def onnxruntime_release() -> tuple[int, ...]:
    """The installed onnxruntime's release as numbers: (1, 31, 1)."""
    import onnxruntime

    return release(onnxruntime.__version__)


def output_padding_reaches_stride(spec: ConvSpec) -> bool:
    """A transposed spec whose output padding on some axis is its stride or more."""
    return spec.transposed and any(p >= s for p, s in zip(spec.explicit_output_padding, spec.stride))


REFUSALS = (
    Refusal(
        "float64_cpu", lambda spec: spec.dtype == "float64", NO_KERNEL,
        "onnxruntime's CPU execution provider has no float64 Conv or ConvTranspose kernel (ONNX allows double); "
        "its kernel registry is probed. onnxruntime 1.31.1 registers both for float32 only, and runs float16 "
        "through Casts to float32 that it inserts around the kernel",
        _example("float64"), lacks_cpu_kernel,
    ),
    Refusal(
        "bfloat16_cpu", lambda spec: spec.dtype == "bfloat16",
        r"Type 'tensor\(bfloat16\)' of input parameter \(\w+\) of operator \((Conv|ConvTranspose)\)",
        f"ONNX's Conv and ConvTranspose take bfloat16 from opset 22 only, and the graph declares {OPSET}: "
        "onnxruntime has no bfloat16 CPU kernel for them at any opset (its kernel registry is probed; "
        "1.31.1 has none), so a later opset would be refused too",
        _example("bfloat16"), lambda spec: lacks_cpu_kernel(spec, None),
    ),
    Refusal(
        "output_padding_from_dilation",
        output_padding_reaches_stride,
        r"output_padding \(\d+\) may be too large for stride",
        "onnxruntime's ConvTranspose refuses an output_padding of the stride or more, which ONNX (as PyTorch) "
        "allows below the dilation: onnxruntime 1.28.0 and 1.31.1 refuse the example, 1.20.1, 1.21.1, 1.23.2, "
        "1.25.1, 1.26.0 and 1.27.0 compute it right",
        dict(layout="NCW", in_channels=1, out_channels=1, spatial=3, kernel=2, dilation=2, output_padding=1,
             transposed=True),
        lambda spec: onnxruntime_release() >= (1, 28),
    ),
)


FORWARD_ONLY = no_autodiff(
    "forward_only",
    "onnxruntime runs an ONNX graph forward only: it has no automatic differentiation (training graphs are "
    "built by other tools), so no gradient of its own to check",
)


class OnnxRuntime(OneLayout, Backend):
    name = "onnxruntime"
    module = "onnxruntime"
    imports = ("import numpy as np", "import onnx", "import onnxruntime")
    refusals = REFUSALS
    gradient_refusals = (FORWARD_ONLY,)
    native_padding_modes = True  # a Pad node in the graph
    only_layout = staticmethod(channels_first_layout)
    layout_note = "ONNX convolves channels-first only: {layout} is permuted to {run} and back"
    transposer = "np.transpose"

    def namespace(self) -> dict:
        import numpy as np
        import onnx
        import onnxruntime

        # the builtins the rendered call names: dict(x=x) feeds the session, setattr sets its options
        return {"np": np, "onnx": onnx, "onnxruntime": onnxruntime, "dict": dict, "setattr": setattr}

    def padding_argument(self, spec: ConvSpec, layout: str):
        """ONNX's ``pads``: the begin of each spatial axis, then the end of each."""
        return [before for before, _ in spec.explicit_padding] + [after for _, after in spec.explicit_padding]

    def convolution(self, spec: ConvSpec, layout: str, padding):
        nodes, initializers, x = [], [], "x"
        if spec.mode_fills:  # the pads filled by a Pad node; the conv pads nothing
            pads = [0, 0, *padding[:spec.rank], 0, 0, *padding[spec.rank:]]  # N and C too
            widths = ", ".join(f"({before}, {after})" for before, after in spec.explicit_padding)
            nodes.append(Step("pad", call("onnx.helper.make_node", "Pad", ["x", "pads"], ["padded"],
                                          mode=PAD_MODES[spec.padding_mode]),
                              f"padding {widths} {spec.padding_mode}: a Pad node before the conv"))
            initializers.append(call("onnx.numpy_helper.from_array", call("np.array", pads, dtype="int64"), "pads"))
            x, padding = "padded", [0] * len(padding)
        node = call("onnx.helper.make_node", "Conv", self.node_inputs(spec, x), ["y"], kernel_shape=list(spec.kernel),
                    strides=list(spec.stride), pads=padding, dilations=list(spec.dilation), group=spec.groups)
        return self.session(spec, (*nodes, Step("node", node)), initializers), len(nodes)

    def convolution_transpose(self, spec: ConvSpec, layout: str):
        crops = self.padding_argument(spec, layout)
        node = call("onnx.helper.make_node", "ConvTranspose", self.node_inputs(spec, "x"), ["y"],
                    kernel_shape=list(spec.kernel), strides=list(spec.stride), pads=crops,
                    output_padding=list(spec.explicit_output_padding), dilations=list(spec.dilation),
                    group=spec.groups)
        return self.session(spec, (Step("node", node),), []), 0

    @staticmethod
    def node_inputs(spec: ConvSpec, x: str) -> list[str]:
        """The conv node's inputs: ``x`` (or the padded input), the weights, the bias where the spec has one."""
        return [x, *tensor_names(spec)[1:]]

    def session(self, spec: ConvSpec, nodes: tuple[Step, ...], initializers: list) -> tuple[Step, ...]:
        """The graph of ``nodes`` (the weights as initializers), its model, and the session that runs it on ``x``."""
        element = Ref(f"onnx.TensorProto.{ELEMENT_TYPES[spec.dtype]}")
        shape = [spec.batch, spec.in_channels, *spec.spatial]
        weights = [call("onnx.numpy_helper.from_array", Var(n), n) for n in tensor_names(spec)[1:]]
        graph = call("onnx.helper.make_graph", [Var(step.target) for step in nodes], "conv",
                     [call("onnx.helper.make_tensor_value_info", "x", element, shape)],
                     [call("onnx.helper.make_tensor_value_info", "y", element, None)], weights + initializers)
        opsets = [call("onnx.helper.make_opsetid", "", OPSET)]
        model = call("onnx.helper.make_model", Var("graph"), opset_imports=opsets, ir_version=IR_VERSION)
        quiet = call("setattr", Var("options"), "log_severity_level", FATAL)
        session = call("onnxruntime.InferenceSession", call("model.SerializeToString"), Var("options"),
                       providers=PROVIDERS)
        run = Item(call("session.run", None, call("dict", x=Var("x"))), 0)
        return (*nodes, Step("graph", graph), Step("model", model),
                Step("options", call("onnxruntime.SessionOptions")),
                Step(None, quiet, "an error is raised, not also logged"), Step("session", session), Step("y", run))
