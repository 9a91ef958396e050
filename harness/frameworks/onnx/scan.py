"""Scan an ONNX graph: each ``Conv`` and ``ConvTranspose`` node of the main graph becomes a
spec (its attributes; its weights from initializers or ``Constant`` nodes, or computed), a
zero ``Pad`` node feeding a conv is folded in where asked, and one onnxruntime run, with
each conv's input and output added as graph outputs, captures the activations.

Layers are named by their node's name, or its output's where the node has none. The
graph runs forward only, in onnxruntime's CPU execution provider.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ...spec import ConvSpec, layout_of, same_padding
from ...porting import ConvLayer, ScannedModel, fold_padding
from .adapter import FATAL, PROVIDERS

CONVS = ("Conv", "ConvTranspose")
DEFAULT_DOMAINS = ("", "ai.onnx")
QUANTIZED = "a quantized convolution (scales and zero points): a spec is a floating-point conv"
# Conv-like nodes the scan lists as not checked, by (domain, op_type), with the reason.
NOT_CHECKED = {
    ("", "ConvInteger"): "an integer convolution (quantized): a spec is a floating-point conv",
    ("", "QLinearConv"): QUANTIZED,
    ("", "DeformConv"): "a deformable convolution (offsets per window) has no spec",
    ("com.microsoft", "FusedConv"): "onnxruntime's conv fused with its activation: not an ONNX Conv",
    ("com.microsoft", "NhwcConv"): "onnxruntime's channels-last conv: not an ONNX Conv",
    ("com.microsoft", "QLinearConv"): QUANTIZED,
}
DTYPES = ("float16", "bfloat16", "float32", "float64")


def load_model(model):
    """``model`` as an ``onnx.ModelProto``: itself, or read from its path (external data included)."""
    import onnx

    if isinstance(model, onnx.ModelProto):
        return model
    path = Path(model)
    if not path.is_file():
        raise ValueError(f"model={os.fspath(model)!r}: no such ONNX file")
    return onnx.load(str(path))


def model_name(model, proto) -> str:
    """A path's stem, else the graph's name."""
    if not hasattr(model, "SerializeToString"):
        return Path(model).stem
    return proto.graph.name or "onnx model"


def attributes(node) -> dict:
    """The node's attributes as Python values (strings decoded)."""
    import onnx

    values = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    return {k: v.decode() if isinstance(v, bytes) else v for k, v in values.items()}


def constants(graph) -> dict[str, np.ndarray]:
    """The initializers and the values of ``Constant`` nodes (their ``value`` tensor), by name."""
    from onnx import numpy_helper

    found = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.domain in DEFAULT_DOMAINS:
            value = next((a.t for a in node.attribute if a.name == "value"), None)
            if value is not None:
                found[node.output[0]] = numpy_helper.to_array(value)
    return found


def zero_pads(node, known: dict[str, np.ndarray], rank: int) -> tuple[tuple[int, int], ...] | None:
    """The spatial (before, after) pairs of a ``Pad`` node that adds zeros to the spatial axes
    only (constant mode, value 0, pads known and not negative); None for any other node."""
    fields = attributes(node)
    if node.op_type != "Pad" or node.domain not in DEFAULT_DOMAINS or fields.get("mode", "constant") != "constant":
        return None
    inputs = list(node.input) + [""] * 4
    if "pads" in fields:  # before opset 11: attributes
        pads, value = np.asarray(fields["pads"]), fields.get("value", 0.0)
    else:
        if inputs[1] not in known or (inputs[2] and inputs[2] not in known):
            return None
        pads = known[inputs[1]]
        value = known[inputs[2]] if inputs[2] else 0.0
    axes = list(range(rank + 2))
    if inputs[3]:  # opset 18: pads of the listed axes only
        if inputs[3] not in known:
            return None
        axes = [int(a) % (rank + 2) for a in known[inputs[3]]]
    full = np.zeros(2 * (rank + 2), dtype=np.int64)
    pads = np.asarray(pads, np.int64).ravel()
    for i, axis in enumerate(axes):
        full[axis], full[axis + rank + 2] = pads[i], pads[i + len(axes)]
    if np.any(np.asarray(value) != 0) or full.min() < 0 or full[[0, 1, rank + 2, rank + 3]].any():
        return None
    return tuple((int(full[2 + i]), int(full[rank + 4 + i])) for i in range(rank))


def _same_pairs(spatial, kernel, stride, dilation, lower: bool) -> tuple[tuple[int, int], ...]:
    """ONNX's SAME_UPPER (the odd pad at the end) or SAME_LOWER (at the beginning)."""
    pairs = tuple(map(same_padding, spatial, kernel, stride, dilation))
    return tuple((after, before) for before, after in pairs) if lower else pairs


def _transposed_padding(fields: dict, spatial, kernel, stride, dilation, output_padding):
    """ConvTranspose's crops and output padding, from ``pads``, or from ``auto_pad`` and
    ``output_shape`` (the total crop split as ONNX says: the smaller half first for SAME_UPPER)."""
    auto_pad = fields.get("auto_pad", "NOTSET")
    wanted = fields.get("output_shape")
    if wanted is None and auto_pad in ("NOTSET", "VALID"):
        pads = fields.get("pads", [0] * 2 * len(spatial)) if auto_pad == "NOTSET" else [0] * 2 * len(spatial)
        return tuple(zip(pads[:len(spatial)], pads[len(spatial):])), output_padding
    if wanted is None:
        wanted = [n * s for n, s in zip(spatial, stride)]
    wanted = list(wanted)[-len(spatial):]  # some exporters give N and C too
    crops, extra = [], []
    for n, k, s, d, p, out in zip(spatial, kernel, stride, dilation, output_padding, wanted):
        total = (n - 1) * s + p + (k - 1) * d + 1 - out
        smaller = max(total, 0) // 2
        crops.append((smaller, max(total, 0) - smaller) if auto_pad == "SAME_UPPER" else
                     (max(total, 0) - smaller, smaller))
        extra.append(p + max(-total, 0))
    return tuple(crops), tuple(extra)


def node_spec(node, x_shape: tuple[int, ...], w: np.ndarray) -> ConvSpec:
    """The spec of a ``Conv`` or ``ConvTranspose`` node on an input of ``x_shape`` with weights ``w``."""
    rank = len(x_shape) - 2
    if not 1 <= rank <= 3:
        raise ValueError(f"a {rank}-D convolution: a spec is 1-D, 2-D or 3-D")
    dtype = w.dtype.name
    if dtype not in DTYPES:
        raise ValueError(f"weights of dtype {dtype}: a spec is one of {', '.join(DTYPES)}")
    fields = attributes(node)
    spatial, kernel = tuple(x_shape[2:]), tuple(w.shape[2:])
    stride = tuple(fields.get("strides", (1,) * rank))
    dilation = tuple(fields.get("dilations", (1,) * rank))
    groups = fields.get("group", 1)
    transposed = node.op_type == "ConvTranspose"
    auto_pad = fields.get("auto_pad", "NOTSET")
    output_padding = tuple(fields.get("output_padding", (0,) * rank))
    if transposed:
        padding, output_padding = _transposed_padding(fields, spatial, kernel, stride, dilation, output_padding)
        out_channels = w.shape[1] * groups
    else:
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            padding = _same_pairs(spatial, kernel, stride, dilation, auto_pad == "SAME_LOWER")
        elif auto_pad == "VALID":
            padding = "valid"
        else:
            pads = fields.get("pads", [0] * 2 * rank)
            padding = tuple(zip(pads[:rank], pads[rank:]))
        out_channels = w.shape[0]
    bias = len(node.input) > 2 and node.input[2] != ""
    return ConvSpec(layout=layout_of(rank, False), batch=x_shape[0], in_channels=x_shape[1],
                    out_channels=out_channels, spatial=spatial, kernel=kernel, stride=stride, dilation=dilation,
                    padding=padding, groups=groups, bias=bias, dtype=dtype, transposed=transposed,
                    output_padding=output_padding if transposed else 0)


def layer_name(node) -> str:
    """The node's name, or its first output's where it has none."""
    return node.name or node.output[0]


def _subgraph_convs(node) -> list[str]:
    """The convs inside a node's subgraphs (If, Loop, Scan), which the scan does not enter."""
    found = []
    for attribute in node.attribute:
        for graph in ([attribute.g] if attribute.HasField("g") else []) + list(attribute.graphs):
            for inner in graph.node:
                if inner.op_type in CONVS or (inner.domain, inner.op_type) in NOT_CHECKED:
                    found.append(layer_name(inner))
                found += _subgraph_convs(inner)
    return found


def feed(graph, example) -> dict:
    """The example as the graph's one input, in the element type it declares."""
    from onnx import helper

    initialized = {t.name for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initialized]
    if example is None:
        raise ValueError("example: an ONNX model needs an example input (return (model, input) or pass --input-shape)")
    if len(inputs) != 1:
        names = ", ".join(i.name for i in inputs)
        raise ValueError(f"model: the ONNX graph takes {len(inputs)} inputs ({names}); the scan feeds one")
    dtype = helper.tensor_dtype_to_np_dtype(inputs[0].type.tensor_type.elem_type)
    return {inputs[0].name: np.asarray(example).astype(dtype, copy=False)}


def _plans(graph, known: dict, fold_zero_padding: bool) -> tuple[list, list]:
    """What to capture of each conv node: (its position, the node, the name of the input
    captured, the zero pads folded or None); and the conv-like layers that are not checked,
    each as (its position, a ConvLayer without a spec)."""
    producers = {output: node for node in graph.node for output in node.output}
    plans, unsupported = [], []
    for position, node in enumerate(graph.node):
        if node.op_type in CONVS and node.domain in DEFAULT_DOMAINS:
            x, pads = node.input[0], None
            rank = known[node.input[1]].ndim - 2 if node.input[1] in known else None
            pad = producers.get(x)
            if fold_zero_padding and node.op_type == "Conv" and pad is not None and rank is not None:
                pads = zero_pads(pad, known, rank)
                x = pad.input[0] if pads is not None else x
            plans.append((position, node, x, pads))
        elif (node.domain, node.op_type) in NOT_CHECKED:
            unsupported.append((position, ConvLayer(layer_name(node), f"onnx.{node.op_type}", None,
                                                    unsupported=NOT_CHECKED[node.domain, node.op_type])))
        for inner in _subgraph_convs(node):
            unsupported.append((position, ConvLayer(inner, f"onnx.{node.op_type}", None, unsupported=(
                f"inside the subgraph of {node.op_type} node {layer_name(node)}, which the scan does not enter"))))
    return plans, unsupported


def run_capturing(proto, wanted: list[str], example) -> dict[str, np.ndarray]:
    """One onnxruntime run of ``proto`` on ``example`` with the tensors ``wanted`` added as
    graph outputs: those and the graph's own outputs, by name."""
    import onnx
    import onnxruntime

    run = onnx.ModelProto()
    run.CopyFrom(proto)
    outputs = [o.name for o in proto.graph.output]
    run.graph.output.extend(onnx.ValueInfoProto(name=n) for n in wanted if n not in outputs)
    options = onnxruntime.SessionOptions()
    options.log_severity_level = FATAL  # an error is raised, not also logged
    session = onnxruntime.InferenceSession(run.SerializeToString(), options, providers=PROVIDERS)
    names = list(dict.fromkeys(outputs + wanted))
    # copied: with onnxruntime 1.20.1 the arrays a run returned changed after it (NaN in later checks)
    return {n: np.array(v) for n, v in zip(names, session.run(names, feed(proto.graph, example)))}


def scan_onnx(model, example, *, name: str | None = None, fold_zero_padding: bool = False) -> ScannedModel:
    """Every conv of ``model`` (a ModelProto or a path) as onnxruntime runs it on ``example``."""
    proto = load_model(model)
    known = constants(proto.graph)
    plans, layers = _plans(proto.graph, known, fold_zero_padding)
    wanted = list(dict.fromkeys(name for _, node, x, _ in plans
                                for name in (x, *node.input[1:3], node.output[0]) if name and name not in known))
    values = {**known, **run_capturing(proto, wanted, example)}
    for position, node, x_name, pads in plans:
        kind = f"onnx.{node.op_type}"
        x, y = values[x_name], values[node.output[0]]
        # the weights copied: an initializer's array is a read-only view of the model's bytes
        w = np.array(values[node.input[1]])
        b = np.array(values[node.input[2]]) if len(node.input) > 2 and node.input[2] else None
        try:
            shape = x.shape if pads is None else (*x.shape[:2], *(n + sum(p) for n, p in zip(x.shape[2:], pads)))
            spec = node_spec(node, shape, w)
        except ValueError as exc:  # a node this spec cannot state: reported, the scan goes on
            layers.append((position, ConvLayer(layer_name(node), kind, None, unsupported=str(exc))))
            continue
        if pads is not None:
            spec = fold_padding(spec, pads)
        layers.append((position, ConvLayer(layer_name(node), kind, spec, x, w, b, y)))
    layers.sort(key=lambda item: item[0])
    outputs = [o.name for o in proto.graph.output]
    output = values[outputs[0]] if len(outputs) == 1 else None
    return ScannedModel(name or model_name(model, proto), "onnx", tuple(layer for _, layer in layers), output)
