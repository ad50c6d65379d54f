"""Rewrite the exported DepthNet Nano graph into the fused CPU kernels (custom domain "dn").

Each pass matches by structure and checks every constraint its kernel has (static shapes,
kernel sizes, strides, pads, SELU constants, exact 2x resizes); whatever does not match stays
as stock onnxruntime ops. Ops (src/cpu_kernels): FusedEP (EP/PBEP module), FusedStage (a dense
stage without Concat copies), FusedUpEP (decoder resize + skip concat + EP), Stem (conv 7x7/2
-> SELU -> avgpool), Trans (transition 1x1 -> SELU [-> avgpool]), Head3x3 (head [+ final 2x]).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
from onnx import ModelProto, NodeProto, helper, numpy_helper

from depthnet_nano_ros.inference.cpu.graph_fused_match import GraphIndex, attr, is_selu

DOMAIN = "dn"
FUSED_OPS = ("FusedEP", "FusedStage", "FusedUpEP", "Stem", "Trans", "Head3x3")
BLOCK = 8  # output channels per packed weight block (gemm.h)


def pack_1x1(w: np.ndarray) -> np.ndarray:
    """[Nout, K] -> blocks of 8 output channels, each [K][nb], flat (the gemm kernels' layout)."""
    return np.concatenate([np.ascontiguousarray(w[c0:c0 + BLOCK].T).ravel()
                           for c0 in range(0, w.shape[0], BLOCK)]).astype(np.float32)


class _Fuser:
    """One rewrite of one model; replacements are applied in :meth:`commit`."""

    def __init__(self, model: ModelProto, nbands: int) -> None:
        self.model, self.g, self.nbands = model, model.graph, nbands
        self.ix = GraphIndex(model)
        self.repl: dict[int, NodeProto] = {}
        self.remove: set[int] = set()
        self.new_inits: dict[str, np.ndarray] = {}  # name -> flat float32, added on commit

    def _init(self, name: str, value: np.ndarray) -> str:
        self.new_inits[name] = np.ascontiguousarray(value, dtype=np.float32).ravel()
        return name

    def _taken(self, *nodes: NodeProto) -> bool:
        return any(id(n) in self.remove or id(n) in self.repl for n in nodes)

    def ep_modules(self) -> list[NodeProto]:
        """Conv1x1 -> Selu -> dw3x3 -> Selu -> Conv1x1 -> Selu [after a 1x1 proj] -> FusedEP."""
        ix, made = self.ix, []
        for c1 in list(self.g.node):
            if not ix.is_1x1(c1) or self._taken(c1):
                continue
            s1 = ix.only_consumer(c1.output[0])
            c2 = ix.only_consumer(s1.output[0]) if s1 is not None and is_selu(s1) else None
            if c2 is None or not ix.is_dw3x3(c2):
                continue
            s2 = ix.only_consumer(c2.output[0])
            c3 = ix.only_consumer(s2.output[0]) if s2 is not None and is_selu(s2) else None
            if c3 is None or not ix.is_1x1(c3):
                continue
            s3 = ix.only_consumer(c3.output[0])
            if s3 is None or not is_selu(s3) or self._taken(c2, c3, s1, s2, s3):
                continue
            shape = ix.shape(c1.input[0])
            if shape is None:
                continue
            c0 = ix.producer.get(c1.input[0])
            has_proj = (c0 is not None and ix.is_1x1(c0) and not self._taken(c0)
                        and ix.only_consumer(c0.output[0]) is c1
                        and ix.shape(c0.input[0]) is not None)
            k = f"dn_ep{len(made)}"
            we, wo = ix.weight(c1)[:, :, 0, 0], ix.weight(c3)[:, :, 0, 0]
            m = we.shape[0]
            if has_proj:
                wp = ix.weight(c0)[:, :, 0, 0]
                wpn, bpn, x = pack_1x1(wp), ix.bias(c0), c0.input[0]
                self.remove.add(id(c0))
            else:
                wpn, bpn, x = np.zeros(0, np.float32), np.zeros(0, np.float32), c1.input[0]
            names = [self._init(f"{k}_{n}", v) for n, v in (
                ("Wp", wpn), ("bp", bpn), ("We", pack_1x1(we)), ("be", ix.bias(c1)),
                ("Wd", ix.weight(c2).reshape(m, 9)), ("bd", ix.bias(c2)),
                ("Wo", pack_1x1(wo)), ("bo", ix.bias(c3)))]
            node = helper.make_node("FusedEP", [x, *names], [s3.output[0]], name=k, domain=DOMAIN,
                                    has_proj=int(has_proj), nbands=self.nbands)
            self.repl[id(c1)] = node
            self.remove.update(id(n) for n in (s1, c2, s2, c3, s3))
            made.append(node)
        return made

    def dense_stages(self, eps: list[NodeProto]) -> int:
        """Concat chains of PBEP FusedEPs sharing a stage input -> one FusedStage each."""
        ep_out = {n.output[0]: n for n in eps}
        groups: dict[str, list[NodeProto]] = {}
        for n in self.g.node:
            if (n.op_type == "Concat" and attr(n, "axis", None) == 1 and len(n.input) >= 2
                    and all(i in ep_out for i in n.input[1:])):
                groups.setdefault(n.input[0], []).append(n)
        count = 0
        for t0, cats in groups.items():
            cats.sort(key=lambda c: len(c.input))
            last = cats[-1]
            chain = [ep_out[i] for i in last.input[1:]]
            ok = all(list(c.input) == list(last.input[:k + 2]) for k, c in enumerate(cats))
            ok = ok and all(ep.input[0] == (t0 if k == 0 else cats[k - 1].output[0])
                            for k, ep in enumerate(chain))
            ok = ok and all(attr(ep, "has_proj", 0) == 1 for ep in chain)
            # each partial concat feeds only the next module's (fused) projection conv
            ok = ok and all(len(self.ix.consumers.get(c.output[0], [])) == 1 for c in cats[:-1])
            if not ok or self.ix.shape(t0) is None:
                continue
            dims, parts = [], []
            for ep in chain:
                arrs = [self._new(i) for i in ep.input[1:]]
                dims += [arrs[1].size, arrs[3].size, arrs[7].size]
                parts += arrs
            name = f"dn_stage{count}"
            wall = self._init(name + "_W", np.concatenate(parts))
            node = helper.make_node("FusedStage", [t0, wall], [last.output[0]], name=name,
                                    domain=DOMAIN, dims=dims, nbands=self.nbands)
            first = next(k for k, v in self.repl.items() if v is chain[0])
            self.repl[first] = node
            for ep in chain[1:]:
                self.remove.add(next(k for k, v in self.repl.items() if v is ep))
            self.remove.update(id(c) for c in cats)
            count += 1
        return count

    def _new(self, name: str) -> np.ndarray:
        return self.new_inits[name]

    def up_modules(self, eps: list[NodeProto]) -> int:
        """Resize 2x (linear, half_pixel) -> Concat(x, skip) -> FusedEP -> FusedUpEP."""
        ix, count = self.ix, 0
        for ep in eps:
            key = next((k for k, v in self.repl.items() if v is ep), None)
            if key is None or attr(ep, "has_proj", 0) != 0:
                continue
            cat = ix.producer.get(ep.input[0])
            if (cat is None or cat.op_type != "Concat" or attr(cat, "axis", None) != 1
                    or len(cat.input) != 2 or ix.only_consumer(cat.output[0]) is None):
                continue
            r = ix.producer.get(cat.input[0])
            if r is None or ix.only_consumer(r.output[0]) is not cat or not ix.is_up2x(r):
                continue
            xs, ss = ix.shape(r.input[0]), ix.shape(cat.input[1])
            if xs is None or ss is None or ss[2:] != [2 * xs[2], 2 * xs[3]]:
                continue
            be = self._new(ep.input[4])
            m, cx = be.size, xs[1]
            we = ix.unpack(self._new(ep.input[3]), m)
            if we.shape[1] != cx + ss[1]:
                continue
            name = f"dn_up{count}"
            we1 = self._init(name + "_We1", pack_1x1(we[:, :cx]))
            we2 = self._init(name + "_We2", pack_1x1(we[:, cx:]))
            inputs = [r.input[0], cat.input[1], we1, we2, *ep.input[4:]]
            node = helper.make_node("FusedUpEP", inputs, list(ep.output), name=name,
                                    domain=DOMAIN, nbands=self.nbands)
            self.repl[key] = node
            self.remove.update((id(r), id(cat)))
            count += 1
        return count

    def stem(self) -> int:
        """Conv 7x7/2 pad 3 (14 ch) -> Selu -> AveragePool 2x2 on the input (>= 2x2) -> Stem."""
        ix = self.ix
        for n in self.g.node:
            if n.op_type != "Conv" or self._taken(n) or not ix.is_stem_conv(n):
                continue
            s = ix.only_consumer(n.output[0])
            if s is None or not is_selu(s):
                continue
            pools = [c for c in ix.consumers.get(s.output[0], []) if ix.is_avgpool2(c)]
            shape = ix.shape(n.input[0])
            if len(pools) != 1 or shape is None or min(shape[2:]) < 2:
                continue
            self.repl[id(n)] = helper.make_node(
                "Stem", list(n.input[:2]) + [self._init("dn_stem_b", ix.bias(n))],
                [s.output[0], pools[0].output[0]], name="dn_stem", domain=DOMAIN)
            self.remove.update((id(s), id(pools[0])))
            return 1
        return 0

    def transitions(self) -> int:
        """Remaining Conv 1x1 -> Selu [-> AveragePool 2x2, even H and W] -> Trans."""
        ix, count = self.ix, 0
        for n in list(self.g.node):
            if self._taken(n) or not ix.is_1x1(n):
                continue
            s = ix.only_consumer(n.output[0])
            shape = ix.shape(n.input[0])
            if s is None or not is_selu(s) or self._taken(s) or shape is None:
                continue
            p = ix.only_consumer(s.output[0])
            pool = (p is not None and ix.is_avgpool2(p) and not self._taken(p)
                    and shape[2] % 2 == 0 and shape[3] % 2 == 0)
            name = f"dn_trans{count}"
            w = self._init(name + "_W", pack_1x1(ix.weight(n)[:, :, 0, 0]))
            self.repl[id(n)] = helper.make_node(
                "Trans", [n.input[0], w, self._init(name + "_b", ix.bias(n))],
                [p.output[0] if pool else s.output[0]], name=name, domain=DOMAIN, pool=int(pool))
            self.remove.add(id(s))
            if pool:
                self.remove.add(id(p))
            count += 1
        return count

    def head(self) -> int:
        """Conv 3x3 pad 1 -> 1 channel [-> Resize 2x linear half_pixel] -> Head3x3."""
        ix = self.ix
        for n in self.g.node:
            if self._taken(n) or not ix.is_head_conv(n) or ix.shape(n.input[0]) is None:
                continue
            r = ix.only_consumer(n.output[0])
            xs = ix.shape(n.input[0])
            up = (r is not None and ix.is_up2x(r) and ix.shape(r.output[0]) is not None
                  and ix.shape(r.output[0])[2:] == [2 * xs[2], 2 * xs[3]])
            self.repl[id(n)] = helper.make_node(
                "Head3x3", [n.input[0], self._init("dn_head_W", ix.weight(n)),
                            self._init("dn_head_b", ix.bias(n))],
                [r.output[0] if up else n.output[0]], name="dn_head", domain=DOMAIN, up=int(up))
            if up:
                self.remove.add(id(r))
            return 1
        return 0

    def commit(self) -> None:
        """Apply the replacements, drop unused initializers, declare the "dn" opset."""
        nodes = []
        for n in self.g.node:
            if id(n) in self.remove:
                continue
            nodes.append(self.repl.get(id(n), n))
        del self.g.node[:]
        self.g.node.extend(nodes)
        used = {i for n in self.g.node for i in n.input} | {o.name for o in self.g.output}
        keep = [t for t in self.g.initializer if t.name in used]
        keep += [numpy_helper.from_array(v, k) for k, v in self.new_inits.items() if k in used]
        del self.g.initializer[:]
        self.g.initializer.extend(keep)
        if not any(o.domain == DOMAIN for o in self.model.opset_import):
            self.model.opset_import.append(helper.make_opsetid(DOMAIN, 1))


def fuse_for_cpu_kernels(model_bytes: bytes, nbands: int = 2) -> tuple[bytes, dict[str, int]]:
    """(fused model bytes, op counts incl. stock "Conv"/"Selu" left); counts empty: no match."""
    model = onnx.load_from_string(model_bytes)
    fz = _Fuser(model, nbands)
    eps = fz.ep_modules()
    if not eps:
        return model_bytes, {}
    fz.dense_stages(eps)
    fz.up_modules(eps)
    fz.stem()
    fz.transitions()
    fz.head()
    fz.commit()
    counts = Counter(n.op_type for n in model.graph.node)
    summary = {op: counts.get(op, 0) for op in (*FUSED_OPS, "Conv", "Selu")}
    return model.SerializeToString(), summary


def describe(counts: dict[str, int]) -> str:
    """A one-line summary such as "FusedStage x4, FusedUpEP x4, ...; stock Conv x1"."""
    fused = ", ".join(f"{op} x{counts[op]}" for op in FUSED_OPS if counts.get(op))
    stock = ", ".join(f"{op} x{counts[op]}" for op in ("Conv", "Selu") if counts.get(op))
    return fused + (f"; stock {stock}" if stock else "") if fused else "nothing fused"

