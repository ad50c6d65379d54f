"""ONNX graph passes that make the exported network fast on onnxruntime's CPU provider.

:func:`optimize_for_cpu` = NCHWc-friendly depthwise widths (graph_layout), row-strip tiling of
large EP modules (graph_tiling), then the SELU rewrite below.

onnxruntime's Selu kernel is scalar code: profiled at 384x1280 it took about half of DepthNet
Nano's run time. :func:`rewrite_selu` replaces it, exactly, by four vectorized primitives and
pushes the remaining affine map into the consumers. With a = alpha, l = lambda and the
producing conv's bias raised by ln(a) (x' = x + ln a):

    v = max(x', ln a) + exp(min(x', ln a))  =  relu(x) + a exp(min(x, 0)) + ln a
    selu(x) = l * (v - c),  c = a + ln a

Tensors holding such a "coded" v flow unchanged through concatenations, pooling and bilinear
resizes (all preserve a per-channel affine map); the next convolution absorbs it: weights
times l and, when it has no padding, bias minus l*c*sum(weights). A padded conv gets an
explicit ``v - c`` so its zero borders stay exact.
"""

from __future__ import annotations

import math

import numpy as np
from onnx import ModelProto, NodeProto, helper, numpy_helper

from depthnet_nano_ros.inference.cpu.graph_tiling import _attr

SELU_ALPHA = 1.6732632423543772
SELU_LAMBDA = 1.0507009873554805
LN_ALPHA = math.log(SELU_ALPHA)
SHIFT = SELU_ALPHA + LN_ALPHA
#: Operators that map a coded input (same affine map on every channel) to a coded output.
AFFINE_TRANSPARENT = {"Concat", "AveragePool", "MaxPool", "Resize", "Slice"}


class _Rewriter:
    """Rewrites one graph; tensors in `coded` hold v with true value lambda * (v - SHIFT)."""

    def __init__(self, model: ModelProto) -> None:
        self.graph = model.graph
        self.inits = {t.name: t for t in self.graph.initializer}
        self.consumers: dict[str, int] = {}
        for n in self.graph.node:
            for i in n.input:
                self.consumers[i] = self.consumers.get(i, 0) + 1
        self.producer = {o: n for n in self.graph.node for o in n.output}
        self.coded: set[str] = set()
        self.counter = 0
        for name, value in (("selu_ln_alpha", LN_ALPHA), ("selu_shift", SHIFT),
                            ("selu_lambda", SELU_LAMBDA),
                            ("selu_lambda_shift", SELU_LAMBDA * SHIFT)):
            self._add_init(name, np.array(value, dtype=np.float32))

    def _add_init(self, name: str, value: np.ndarray) -> str:
        t = numpy_helper.from_array(value.astype(np.float32), name)
        self.graph.initializer.append(t)
        self.inits[name] = t
        return name

    def _name(self, base: str) -> str:
        self.counter += 1
        return f"{base}__opt{self.counter}"

    def _array(self, name: str) -> np.ndarray:
        return numpy_helper.to_array(self.inits[name]).astype(np.float32)

    def _shift_producer_bias(self, x: str) -> bool:
        """Raise the bias of the conv producing `x` by ln(alpha) when it is x's only use."""
        conv = self.producer.get(x)
        if (conv is None or conv.op_type != "Conv" or self.consumers.get(x) != 1
                or conv.input[1] not in self.inits):
            return False
        w = self._array(conv.input[1])
        b = self._array(conv.input[2]) if len(conv.input) > 2 and conv.input[2] else \
            np.zeros(w.shape[0], np.float32)
        name = self._add_init(self._name("conv_B_shifted"), b + np.float32(LN_ALPHA))
        if len(conv.input) > 2:
            conv.input[2] = name
        else:
            conv.input.append(name)
        return True

    def _selu(self, node: NodeProto) -> list[NodeProto]:
        """Coded SELU: four vectorized ops (five when the producer's bias can't absorb ln a)."""
        x, y = node.input[0], node.output[0]
        nodes = []
        if not self._shift_producer_bias(x):
            shifted = self._name(f"{y}_shifted")
            nodes.append(helper.make_node("Add", [x, "selu_ln_alpha"], [shifted]))
            x = shifted
        hi, lo, ex = (self._name(f"{y}_{s}") for s in ("max", "min", "exp"))
        self.coded.add(y)
        # Clip with one bound is max/min by a scalar, but a faster kernel than Max/Min.
        return nodes + [helper.make_node("Clip", [x, "selu_ln_alpha"], [hi]),
                        helper.make_node("Clip", [x, "", "selu_ln_alpha"], [lo]),
                        helper.make_node("Exp", [lo], [ex]),
                        helper.make_node("Add", [hi, ex], [y])]

    def _decode(self, name: str, out: list[NodeProto]) -> str:
        """Materialize the true value lambda * (v - SHIFT) of a coded tensor."""
        s, t = self._name(f"{name}_scaled"), self._name(f"{name}_decoded")
        out += [helper.make_node("Mul", [name, "selu_lambda"], [s]),
                helper.make_node("Sub", [s, "selu_lambda_shift"], [t])]
        return t

    def _conv(self, node: NodeProto, out: list[NodeProto]) -> None:
        """Fold lambda (and, without padding, -lambda*SHIFT) into the conv's parameters."""
        w = self._array(node.input[1])
        has_b = len(node.input) > 2 and bool(node.input[2])
        b = self._array(node.input[2]) if has_b else np.zeros(w.shape[0], np.float32)
        padded = any(_attr(node, "pads", [0])) or _attr(node, "auto_pad", b"NOTSET") not in (
            b"NOTSET", b"VALID")
        if padded:  # zero padding must stay zero in true values: shift v first
            shifted = self._name(f"{node.input[0]}_unshifted")
            out.append(helper.make_node("Sub", [node.input[0], "selu_shift"], [shifted]))
            node.input[0] = shifted
        else:
            b = b - np.float32(SELU_LAMBDA * SHIFT) * w.sum(axis=(1, 2, 3))
        node.input[1] = self._add_init(self._name("conv_W"), w * np.float32(SELU_LAMBDA))
        b_name = self._add_init(self._name("conv_B"), b)
        if has_b or len(node.input) > 2:
            node.input[2] = b_name
        else:
            node.input.append(b_name)
        out.append(node)

    def _transparent(self, node: NodeProto) -> bool:
        """Whether `node` maps its coded data input(s) to a coded output."""
        if node.op_type == "Concat":
            return all(i in self.coded for i in node.input)
        if node.input[0] not in self.coded or any(i in self.coded for i in node.input[1:]):
            return False
        if node.op_type in ("AveragePool", "MaxPool"):
            return not any(_attr(node, "pads", [0]))
        if node.op_type == "Resize":
            return _attr(node, "mode", b"nearest") in (b"linear", b"nearest")
        return node.op_type == "Slice"

    def run(self) -> int:
        """Rewrite in place; returns the number of SELUs replaced."""
        new: list[NodeProto] = []
        count = 0
        for node in list(self.graph.node):
            if node.op_type == "Selu" and _attr(node, "alpha", SELU_ALPHA) == np.float32(
                    SELU_ALPHA) and _attr(node, "gamma", SELU_LAMBDA) == np.float32(SELU_LAMBDA):
                new += self._selu(node)
                count += 1
            elif not any(i in self.coded for i in node.input):
                new.append(node)
            elif (node.op_type == "Conv" and node.input[0] in self.coded
                  and node.input[1] in self.inits
                  and not any(i in self.coded for i in node.input[1:])):
                self._conv(node, new)
            elif node.op_type in AFFINE_TRANSPARENT and self._transparent(node):
                self.coded.update(node.output)
                new.append(node)
            else:
                for i, name in enumerate(node.input):
                    if name in self.coded:
                        node.input[i] = self._decode(name, new)
                new.append(node)
        for out in self.graph.output:
            if out.name in self.coded:  # rename the coded tensor, decode into the output name
                inner = self._name(out.name)
                for n in new:
                    n.output[:] = [inner if o == out.name else o for o in n.output]
                    n.input[:] = [inner if i == out.name else i for i in n.input]
                s = self._name(f"{out.name}_scaled")
                new += [helper.make_node("Mul", [inner, "selu_lambda"], [s]),
                        helper.make_node("Sub", [s, "selu_lambda_shift"], [out.name])]
        del self.graph.node[:]
        self.graph.node.extend(new)
        return count


def rewrite_selu(model: ModelProto) -> int:
    """Replace every Selu by vectorizable ops and fold its affine map into consumers (in place)."""
    count = _Rewriter(model).run()
    used = {i for n in model.graph.node for i in n.input}
    keep = [t for t in model.graph.initializer if t.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep)
    del model.graph.value_info[:]  # stale shapes of renamed tensors; onnxruntime re-infers
    return count


def optimize_for_cpu(model_bytes: bytes) -> bytes:
    """The onnxruntime-CPU variant of an exported model (numerically equivalent)."""
    import onnx

    from depthnet_nano_ros.inference.cpu.graph_layout import (
        pad_depthwise_channels,
        split_single_output_conv,
    )
    from depthnet_nano_ros.inference.cpu.graph_tiling import tile_ep_chains

    model = onnx.load_from_string(model_bytes)
    if not any(n.op_type == "Selu" for n in model.graph.node):
        return model_bytes
    pad_depthwise_channels(model)
    split_single_output_conv(model)
    tile_ep_chains(model)
    rewrite_selu(model)
    return model.SerializeToString()
