"""Structural matching helpers for graph_fused: producers/consumers, static shapes, op checks."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import ModelProto, NodeProto, helper, numpy_helper

SELU_ALPHA = 1.6732632423543772
SELU_GAMMA = 1.0507009873554805


def attr(node: NodeProto, name: str, default: object) -> object:
    """An attribute's value (strings decoded), or `default`."""
    for a in node.attribute:
        if a.name == name:
            v = helper.get_attribute_value(a)
            return v.decode() if isinstance(v, bytes) else v
    return default


def is_selu(node: NodeProto) -> bool:
    """A standard SELU (the kernels hard-code alpha and gamma)."""
    return (node.op_type == "Selu" and node.domain in ("", "ai.onnx")
            and abs(float(attr(node, "alpha", SELU_ALPHA)) - SELU_ALPHA) < 1e-6
            and abs(float(attr(node, "gamma", SELU_GAMMA)) - SELU_GAMMA) < 1e-6)


def _ints(node: NodeProto, name: str, default: list[int]) -> list[int]:
    return [int(v) for v in attr(node, name, default)]


class GraphIndex:
    """Producers, consumers, constant weights and inferred static shapes of one graph."""

    def __init__(self, model: ModelProto) -> None:
        g = model.graph
        self.inits = {t.name: t for t in g.initializer}
        self.producer = {o: n for n in g.node for o in n.output}
        self.consumers: dict[str, list[NodeProto]] = {}
        for n in g.node:
            for i in n.input:
                self.consumers.setdefault(i, []).append(n)
        self.outputs = {o.name for o in g.output}
        self.input_names = {i.name for i in g.input} - set(self.inits)
        self._arrays: dict[str, np.ndarray] = {}
        self.shapes: dict[str, list[int]] = {}
        try:
            inferred = onnx.shape_inference.infer_shapes(model)
        except Exception:  # no shapes: every shape-dependent match is refused
            return
        ig = inferred.graph
        for vi in [*ig.value_info, *ig.input, *ig.output]:
            dims = vi.type.tensor_type.shape.dim
            if vi.type.tensor_type.elem_type == onnx.TensorProto.FLOAT and dims and all(
                    d.HasField("dim_value") and d.dim_value > 0 for d in dims):
                self.shapes[vi.name] = [d.dim_value for d in dims]

    def shape(self, tensor: str) -> list[int] | None:
        """Static float NCHW shape with batch 1, else None."""
        s = self.shapes.get(tensor)
        return s if s is not None and len(s) == 4 and s[0] == 1 else None

    def array(self, name: str) -> np.ndarray | None:
        """A float32 initializer, or None when `name` is not a constant."""
        if name not in self.inits:
            return None
        if name not in self._arrays:
            self._arrays[name] = numpy_helper.to_array(self.inits[name]).astype(np.float32)
        return self._arrays[name]

    def weight(self, conv: NodeProto) -> np.ndarray:
        """A conv's constant weight (callers check is_* first)."""
        return self.array(conv.input[1])

    def bias(self, conv: NodeProto) -> np.ndarray:
        """A conv's bias, zeros when it has none."""
        b = self.array(conv.input[2]) if len(conv.input) > 2 and conv.input[2] else None
        return b if b is not None else np.zeros(self.weight(conv).shape[0], np.float32)

    def only_consumer(self, tensor: str) -> NodeProto | None:
        """The single consumer of a tensor that is not a graph output, else None."""
        users = self.consumers.get(tensor, [])
        return users[0] if len(users) == 1 and tensor not in self.outputs else None

    def _conv(self, n: NodeProto, k: int, stride: int, pad: int) -> np.ndarray | None:
        """The weight of a plain k x k conv with this stride/pad and constant weights/bias."""
        if n.op_type != "Conv" or n.domain not in ("", "ai.onnx") or len(n.input) < 2:
            return None
        w = self.array(n.input[1])
        if w is None or w.ndim != 4 or w.shape[2:] != (k, k):
            return None
        if len(n.input) > 2 and n.input[2] and self.array(n.input[2]) is None:
            return None
        if (attr(n, "auto_pad", "NOTSET") != "NOTSET"
                or _ints(n, "strides", [1, 1]) != [stride] * 2
                or _ints(n, "dilations", [1, 1]) != [1, 1]
                or _ints(n, "pads", [0] * 4) != [pad] * 4):
            return None
        return w

    def is_1x1(self, n: NodeProto) -> bool:
        """Conv 1x1, stride 1, no pad, group 1, on a static-shape input."""
        w = self._conv(n, 1, 1, 0)
        return (w is not None and int(attr(n, "group", 1)) == 1
                and self.shape(n.input[0]) is not None)

    def is_dw3x3(self, n: NodeProto) -> bool:
        """Depthwise conv 3x3, stride 1, pad 1."""
        w = self._conv(n, 3, 1, 1)
        return w is not None and w.shape[1] == 1 and int(attr(n, "group", 1)) == w.shape[0]

    def is_stem_conv(self, n: NodeProto) -> bool:
        """Conv 7x7/2 pad 3 with 14 outputs, group 1, on a graph input."""
        w = self._conv(n, 7, 2, 3)
        return (w is not None and w.shape[0] == 14 and int(attr(n, "group", 1)) == 1
                and n.input[0] in self.input_names)

    def is_head_conv(self, n: NodeProto) -> bool:
        """Conv 3x3, stride 1, pad 1, one output channel, group 1."""
        w = self._conv(n, 3, 1, 1)
        return w is not None and w.shape[0] == 1 and int(attr(n, "group", 1)) == 1

    def is_avgpool2(self, n: NodeProto) -> bool:
        """AveragePool 2x2 stride 2, no pad, floor."""
        return (n.op_type == "AveragePool" and _ints(n, "kernel_shape", []) == [2, 2]
                and _ints(n, "strides", [1, 1]) == [2, 2] and _ints(n, "pads", [0] * 4) == [0] * 4
                and int(attr(n, "ceil_mode", 0)) == 0 and attr(n, "auto_pad", "NOTSET") == "NOTSET")

    def is_up2x(self, n: NodeProto) -> bool:
        """Resize: bilinear, half_pixel, no antialias, output exactly 2x the input (static)."""
        if (n.op_type != "Resize" or attr(n, "mode", "nearest") != "linear"
                or attr(n, "coordinate_transformation_mode", "half_pixel") != "half_pixel"
                or int(attr(n, "antialias", 0)) != 0 or attr(n, "axes", None) is not None):
            return False
        xs, ys = self.shape(n.input[0]), self.shape(n.output[0])
        return (xs is not None and ys is not None and ys[:2] == xs[:2]
                and ys[2:] == [2 * xs[2], 2 * xs[3]])

    @staticmethod
    def unpack(packed: np.ndarray, nout: int) -> np.ndarray:
        """Inverse of graph_fused.pack_1x1: flat blocks -> [Nout, K]."""
        k = packed.size // nout
        w, off = np.zeros((nout, k), np.float32), 0
        for c0 in range(0, nout, 8):
            nb = min(8, nout - c0)
            w[c0:c0 + nb] = packed[off:off + k * nb].reshape(k, nb).T
            off += k * nb
        return w
