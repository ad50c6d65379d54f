"""Layout passes for onnxruntime's CPU provider: NCHWc-friendly channel counts, fewer reorders.

onnxruntime runs convolutions in a blocked NCHWc layout (16 channels per block with AVX-512)
only when a depthwise conv's channel count is a multiple of the block; DepthNet Nano's
decoder widths (e.g. 78, 34, 124) are not, and onnxruntime's plain NCHW depthwise path is
slow. :func:`pad_depthwise_channels` pads such expansion widths with zero filters (exact: a
zero channel is zero after SELU and meets zero weights in the projection).

After optimization every NCHWc conv is followed by ReorderOutput (to NCHW), the elementwise
SELU ops, and ReorderInput (back to NCHWc) before the next conv. Elementwise ops with scalar
constants do not care about layout, so :func:`remove_nchwc_reorders` drops such reorder
pairs from onnxruntime's own optimized model (padded channels stay finite and meet zero
weights). Both passes are verified against the plain graph in the tests.
"""

from __future__ import annotations

import collections
import tempfile
from pathlib import Path

import numpy as np
from onnx import ModelProto, NodeProto, numpy_helper

from depthnet_nano_ros.inference.cpu.graph_tiling import _is_1x1, _is_dw3x3

NCHWC = "com.microsoft.nchwc"
#: Elementwise ops that may run on a blocked tensor (all other inputs are scalar constants).
LAYOUT_FREE = {"Min", "Max", "Clip", "Exp", "Add", "Sub", "Mul", "Relu"}


def pad_depthwise_channels(model: ModelProto, block: int = 16) -> int:
    """Pad expand -> Selu -> dw3x3 -> Selu -> project chains to a multiple of `block` channels."""
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    uses: dict[str, int] = collections.Counter(i for n in g.node for i in n.input)
    consumer = {i: n for n in g.node for i in n.input if uses[i] == 1}

    def arr(name: str) -> np.ndarray:
        return numpy_helper.to_array(inits[name]).astype(np.float32)

    def put(name: str, value: np.ndarray) -> None:
        inits[name].CopyFrom(numpy_helper.from_array(value.astype(np.float32), name))

    count = 0
    for dw in g.node:
        if not _is_dw3x3(dw, inits) or inits[dw.input[1]].dims[0] % block == 0:
            continue
        sel_e, sel_d = producer.get(dw.input[0]), consumer.get(dw.output[0])
        exp = producer.get(sel_e.input[0]) if sel_e is not None else None
        proj = consumer.get(sel_d.output[0]) if sel_d is not None else None
        if (exp is None or proj is None or sel_e.op_type != "Selu" or sel_d.op_type != "Selu"
                or not _is_1x1(exp, inits) or not _is_1x1(proj, inits)
                or uses[dw.input[0]] != 1 or uses[sel_e.input[0]] != 1):
            continue
        biases = [n.input[2] for n in (exp, dw) if len(n.input) > 2 and n.input[2]]
        owned = [exp.input[1], dw.input[1], proj.input[1], *biases]
        if any(uses[n] != 1 or n not in inits for n in owned):
            continue
        c = inits[dw.input[1]].dims[0]
        extra = -c % block
        for name in (exp.input[1], dw.input[1]):
            w = arr(name)
            put(name, np.concatenate([w, np.zeros((extra, *w.shape[1:]), np.float32)]))
        for name in biases:
            put(name, np.concatenate([arr(name), np.zeros(extra, np.float32)]))
        w = arr(proj.input[1])
        put(proj.input[1], np.concatenate(
            [w, np.zeros((w.shape[0], extra, *w.shape[2:]), np.float32)], axis=1))
        for a in dw.attribute:
            if a.name == "group":
                a.i = c + extra
        count += 1
    del g.value_info[:]
    return count


def split_single_output_conv(model: ModelProto) -> int:
    """Rewrite k x k convs with one output channel as a 1x1 conv to k*k taps + shifted sum.

    NCHWc pads a 1-channel output to a whole block (16x the work, and the final resize then
    runs on 16 channels). Instead: taps T = conv1x1(x, W reshaped to (k*k, C)), zero-pad T,
    and add the k*k shifted single-channel slices (plus the bias) -- the same sum, reordered.
    """
    from onnx import helper, shape_inference

    g = model.graph
    inits = {t.name: t for t in g.initializer}
    shapes = {vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim]
              for vi in shape_inference.infer_shapes(model).graph.value_info}
    count = 0
    new: list[NodeProto] = []
    for node in g.node:
        w_init = inits.get(node.input[1]) if node.op_type == "Conv" else None
        out_shape = shapes.get(node.output[0]) if w_init is not None else None
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if (w_init is None or not out_shape or len(out_shape) != 4 or w_init.dims[0] != 1
                or attrs.get("group", 1) != 1 or set(attrs.get("strides", [1])) != {1}
                or set(attrs.get("dilations", [1])) != {1}
                or attrs.get("auto_pad", b"NOTSET") != b"NOTSET"
                or w_init.dims[2] != w_init.dims[3] or w_init.dims[2] % 2 == 0
                or list(attrs.get("pads", [0] * 4)) != [w_init.dims[2] // 2] * 4
                or w_init.dims[2] == 1):
            new.append(node)
            continue
        k, (h, w) = w_init.dims[2], out_shape[2:]
        weights = numpy_helper.to_array(w_init).astype(np.float32)[0]  # C x k x k
        p = f"{node.output[0]}__taps"
        taps = weights.reshape(weights.shape[0], k * k).T[:, :, None, None]
        g.initializer.append(numpy_helper.from_array(np.ascontiguousarray(taps), p + "_W"))
        r = k // 2
        g.initializer.append(numpy_helper.from_array(
            np.array([0, 0, r, r, 0, 0, r, r], np.int64), p + "_pads"))
        g.initializer.append(numpy_helper.from_array(np.array([1, 2, 3], np.int64), p + "_axes"))
        new += [helper.make_node("Conv", [node.input[0], p + "_W"], [p], kernel_shape=[1, 1]),
                helper.make_node("Pad", [p, p + "_pads"], [p + "_padded"])]
        terms = []
        for t in range(k * k):
            dy, dx = divmod(t, k)
            g.initializer.extend([
                numpy_helper.from_array(np.array([t, dy, dx], np.int64), f"{p}_s{t}"),
                numpy_helper.from_array(np.array([t + 1, dy + h, dx + w], np.int64), f"{p}_e{t}")])
            new.append(helper.make_node("Slice", [p + "_padded", f"{p}_s{t}", f"{p}_e{t}",
                                                  p + "_axes"], [f"{p}_{t}"]))
            terms.append(f"{p}_{t}")
        if len(node.input) > 2 and node.input[2]:
            bias = numpy_helper.to_array(inits[node.input[2]]).astype(np.float32)
            g.initializer.append(numpy_helper.from_array(bias.reshape(1, 1, 1, 1), p + "_B"))
            terms.append(p + "_B")
        new.append(helper.make_node("Sum", terms, [node.output[0]]))
        count += 1
    del g.node[:]
    g.node.extend(new)
    return count


def _channels_last(node: NodeProto) -> bool:
    return any(a.name == "channels_last" and a.i for a in node.attribute)


def remove_nchwc_reorders(model: ModelProto) -> int:
    """Drop ReorderOutput -> elementwise -> ReorderInput round trips (in place); returns count."""
    g = model.graph
    inits = {t.name for t in g.initializer}
    outputs = {o.name for o in g.output}
    consumers: dict[str, list[NodeProto]] = collections.defaultdict(list)
    for n in g.node:
        for i in n.input:
            consumers[i].append(n)
    drop: set[int] = set()
    rename: dict[str, str] = {}
    count = 0
    for ro in g.node:
        if ro.domain != NCHWC or ro.op_type != "ReorderOutput" or _channels_last(ro):
            continue
        dag, tensors, frontier = [], {ro.output[0]}, [ro.output[0]]
        while frontier:  # elementwise ops fed only by this tensor and constants
            for c in consumers[frontier.pop()]:
                if (c.domain == "" and c.op_type in LAYOUT_FREE and c not in dag
                        and all(i in tensors or i in inits or not i for i in c.input)):
                    dag.append(c)
                    tensors.add(c.output[0])
                    frontier.append(c.output[0])
        ends = [c for t in tensors for c in consumers[t] if c not in dag]
        if (not dag or tensors & outputs
                or not all(c.domain == NCHWC and c.op_type == "ReorderInput"
                           and not _channels_last(c) for c in ends) or not ends
                or not all(all(i in tensors or i in inits or not i for i in d.input)
                           for d in dag)):
            continue
        for d in dag:
            d.input[:] = [ro.input[0] if i == ro.output[0] else i for i in d.input]
        drop.add(id(ro))
        for ri in ends:
            drop.add(id(ri))
            rename[ri.output[0]] = ri.input[0]
        count += 1
    kept = [n for n in g.node if id(n) not in drop]
    for n in kept:
        n.input[:] = [rename.get(i, i) for i in n.input]
    del g.node[:]
    g.node.extend(kept)
    del g.value_info[:]
    return count


def ort_optimized_without_reorders(model_bytes: bytes, session_options) -> bytes:
    """onnxruntime's optimized (NCHWc) model of `model_bytes` with reorder round trips removed."""
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="depthnet_ort_") as tmp:
        path = Path(tmp) / "optimized.onnx"
        session_options.optimized_model_filepath = str(path)
        ort.InferenceSession(model_bytes, sess_options=session_options,
                             providers=["CPUExecutionProvider"])
        model = onnx.load(path)
    if remove_nchwc_reorders(model) == 0:
        return model_bytes
    return model.SerializeToString()
