"""Row-strip tiling of large expansion-projection chains (an onnxruntime-CPU graph pass).

An EP module (1x1 expand -> SELU -> 3x3 depthwise -> SELU -> 1x1 project -> SELU) at high
resolution materializes its widest tensor (e.g. 351 channels at 192x640, 172 MB) several
times, so it runs at memory speed. Processing it in horizontal strips (each strip reads one
halo row above and below for the depthwise conv, whose asymmetric pads reproduce the zero
border exactly) keeps each strip's intermediates in cache; the strips are concatenated.
The arithmetic per output pixel is unchanged.
"""

from __future__ import annotations

import numpy as np
from onnx import ModelProto, NodeProto, helper, numpy_helper, shape_inference

#: Target size of one strip of the widest intermediate tensor.
STRIP_BYTES = 2 << 20


def _attr(node: NodeProto, name: str, default: object) -> object:
    """An attribute's value (strings as bytes), or `default`."""
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _is_1x1(node: NodeProto, inits: dict) -> bool:
    if node.op_type != "Conv" or node.input[1] not in inits:
        return False
    w = inits[node.input[1]].dims
    return (tuple(w[2:]) == (1, 1) and _attr(node, "group", 1) == 1
            and not any(_attr(node, "pads", [0])) and set(_attr(node, "strides", [1])) == {1})


def _is_dw3x3(node: NodeProto, inits: dict) -> bool:
    if node.op_type != "Conv" or node.input[1] not in inits:
        return False
    w = inits[node.input[1]].dims
    return (tuple(w[2:]) == (3, 3) and w[1] == 1 and _attr(node, "group", 1) == w[0]
            and list(_attr(node, "pads", [0])) == [1, 1, 1, 1]
            and set(_attr(node, "strides", [1])) == {1}
            and set(_attr(node, "dilations", [1])) == {1})


def tile_ep_chains(model: ModelProto, min_pixels: int = 96 * 320,
                   strip_bytes: int = STRIP_BYTES) -> int:
    """Tile every conv1x1-Selu-dw3x3-Selu-conv1x1-Selu chain whose maps have >= min_pixels."""
    graph = model.graph
    inferred = shape_inference.infer_shapes(model)
    shapes = {vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim]
              for vi in list(inferred.graph.value_info) + list(inferred.graph.input)}
    inits = {t.name: t for t in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    uses: dict[str, int] = {}
    for n in graph.node:
        for i in n.input:
            uses[i] = uses.get(i, 0) + 1
    consumer = {i: n for n in graph.node for i in n.input if uses.get(i) == 1}

    def single_next(t: str, op: str) -> NodeProto | None:
        n = consumer.get(t)
        return n if n is not None and n.op_type == op else None

    chains = []
    for dw in graph.node:
        if not _is_dw3x3(dw, inits):
            continue
        sel_e = producer.get(dw.input[0])
        if sel_e is None or sel_e.op_type != "Selu" or uses.get(dw.input[0]) != 1:
            continue
        exp = producer.get(sel_e.input[0])
        if exp is None or not _is_1x1(exp, inits) or uses.get(sel_e.input[0]) != 1:
            continue
        sel_d = single_next(dw.output[0], "Selu")
        proj = single_next(sel_d.output[0], "Conv") if sel_d else None
        sel_p = single_next(proj.output[0], "Selu") if proj and _is_1x1(proj, inits) else None
        shape = shapes.get(dw.output[0])
        if sel_p is None or not shape or len(shape) != 4 or shape[2] * shape[3] < min_pixels:
            continue
        chains.append((exp, sel_e, dw, sel_d, proj, sel_p, shape))
    if not chains:
        return 0
    remove = {id(n) for c in chains for n in c[:6]}
    replacement: dict[int, list[NodeProto]] = {}
    for k, (exp, _se, dw, _sd, proj, sel_p, shape) in enumerate(chains):
        _, mid, h, w = shape
        rows = max(4, min(h, strip_bytes // max(1, mid * w * 4)))
        replacement[id(exp)] = _tiled(graph, k, exp, dw, proj, sel_p, h, rows)
    new: list[NodeProto] = []
    for n in graph.node:
        if id(n) in replacement:
            new += replacement[id(n)]
        elif id(n) not in remove:
            new.append(n)
    del graph.node[:]
    graph.node.extend(new)
    return len(chains)


def _tiled(graph, k: int, exp: NodeProto, dw: NodeProto, proj: NodeProto, sel_p: NodeProto,
           h: int, rows: int) -> list[NodeProto]:
    """Nodes computing the chain strip by strip, concatenated into sel_p's output."""
    nodes: list[NodeProto] = []
    axes = f"tile{k}_axes"
    graph.initializer.append(numpy_helper.from_array(np.array([2], np.int64), axes))
    outs = []
    for s, r0 in enumerate(range(0, h, rows)):
        r1 = min(h, r0 + rows)
        lo, hi = max(0, r0 - 1), min(h, r1 + 1)
        p = f"tile{k}_{s}"
        graph.initializer.extend([numpy_helper.from_array(np.array([lo], np.int64), p + "_lo"),
                                  numpy_helper.from_array(np.array([hi], np.int64), p + "_hi")])
        pads = [1 if r0 == 0 else 0, 1, 1 if r1 == h else 0, 1]
        dw_attrs = {a.name: helper.get_attribute_value(a) for a in dw.attribute}
        dw_attrs["pads"] = pads
        nodes += [
            helper.make_node("Slice", [exp.input[0], p + "_lo", p + "_hi", axes], [p + "_x"]),
            helper.make_node("Conv", [p + "_x", *exp.input[1:]], [p + "_e"],
                             **{a.name: helper.get_attribute_value(a) for a in exp.attribute}),
            helper.make_node("Selu", [p + "_e"], [p + "_es"]),
            helper.make_node("Conv", [p + "_es", *dw.input[1:]], [p + "_d"], **dw_attrs),
            helper.make_node("Selu", [p + "_d"], [p + "_ds"]),
            helper.make_node("Conv", [p + "_ds", *proj.input[1:]], [p + "_p"],
                             **{a.name: helper.get_attribute_value(a) for a in proj.attribute}),
            helper.make_node("Selu", [p + "_p"], [p + "_ps"]),
        ]
        outs.append(p + "_ps")
    nodes.append(helper.make_node("Concat", outs, [sel_p.output[0]], axis=2))
    return nodes
