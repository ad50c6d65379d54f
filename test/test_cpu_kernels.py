"""Fused onnxruntime CPU kernels (src/cpu_kernels), per ISA build: exact vs stock, fallbacks."""

from __future__ import annotations

import functools
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest
from inference_helpers import _TMP, kitti_frames
from onnx import TensorProto, helper, numpy_helper

from depthnet_nano_ros import cli
from depthnet_nano_ros.inference.backends.ort_backend import OrtBackend
from depthnet_nano_ros.inference.bench.peers import build_peer
from depthnet_nano_ros.inference.cpu.graph_fused import fuse_for_cpu_kernels
from depthnet_nano_ros.inference.cpu.kernels import (
    ENV_SWITCH,
    ISA_FLAGS,
    ISA_SWITCH,
    choose_isa,
    kernels_usable,
    library_path,
)
from depthnet_nano_ros.inference.errors import InferenceError
from depthnet_nano_ros.inference.estimator import DepthEstimator
from depthnet_nano_ros.model.checkpoint import REFERENCE_CHECKPOINT
from depthnet_nano_ros.model.transforms import prepare_input

_USABLE, _WHY = kernels_usable()
pytestmark = pytest.mark.skipif(not _USABLE, reason=f"fused CPU kernels unavailable: {_WHY}")
FULL = (384, 1280)
REF = (96, 320)  # the reference checkpoint's size
ODD = (96, 352)  # stem output 176 wide: partial pixel blocks and pooling tails
FUSED_OPS = {"FusedStage": 4, "FusedUpEP": 4, "FusedEP": 4, "Trans": 4, "Stem": 1, "Head3x3": 1}


@pytest.fixture(params=list(ISA_FLAGS))
def isa(request, monkeypatch) -> str:
    """Each kernel build this machine can run, selected with $DEPTHNET_NANO_CPU_ISA."""
    monkeypatch.setenv(ISA_SWITCH, request.param)
    chosen, why = choose_isa()
    if chosen is None:
        pytest.skip(f"{request.param} kernels unavailable: {why}")
    return chosen


@functools.cache
def reference_onnx(size: tuple[int, int]) -> bytes:
    """The shipped reference checkpoint exported at `size` (once per run)."""
    if not REFERENCE_CHECKPOINT.is_file():
        pytest.skip(f"reference checkpoint {REFERENCE_CHECKPOINT} not installed")
    out = _TMP / f"reference_{size[0]}x{size[1]}.onnx"
    rc = cli.main(["export", "--format", "onnx", "--checkpoint", str(REFERENCE_CHECKPOINT),
                   "--height", str(size[0]), "--width", str(size[1]), "--output", str(out)])
    assert rc == 0 and out.is_file()
    return out.read_bytes()


def _inputs(drive_dir: Path, size: tuple[int, int], count: int = 2) -> list[np.ndarray]:
    """Real KITTI frames as the network sees them."""
    return [prepare_input(f, size).astype(np.float32) for f in kitti_frames(drive_dir, count)]


@functools.cache
def _stock_outputs(drive_dir: Path, size: tuple[int, int]) -> list[np.ndarray]:
    """The stock onnxruntime graph's depth on the KITTI frames (shared by both ISAs)."""
    stock = OrtBackend(reference_onnx(size), size, source="reference", threads=2,
                       cpu_rewrites=False)
    assert stock.cpu_path == "stock-graph" and stock.cpu_settings["isa"] is None
    return [stock.run(x) for x in _inputs(drive_dir, size)]


def _max_rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.abs(b)))


@pytest.mark.parametrize("size", [REF, ODD, FULL], ids=["96x320", "96x352", "384x1280"])
def test_fused_graph_matches_stock_on_kitti(size, isa, kitti_drive_dir):
    fused = OrtBackend(reference_onnx(size), size, source="reference", threads=2)
    assert fused.cpu_path.startswith(f"fused-kernels {isa} ("), fused.cpu_path
    assert fused.cpu_settings["path"] == fused.cpu_path and fused.cpu_settings["isa"] == isa
    stock = _stock_outputs(kitti_drive_dir, size)
    worst = max(_max_rel(fused.run(x), s)
                for x, s in zip(_inputs(kitti_drive_dir, size), stock, strict=True))
    print(f"{isa} {size[0]}x{size[1]}: max relative depth error fused vs stock {worst:.2e}")
    assert worst <= 1e-4


@pytest.mark.parametrize("size", [REF, ODD, FULL], ids=["96x320", "96x352", "384x1280"])
def test_rewrite_replaces_the_whole_network(size):
    fused, counts = fuse_for_cpu_kernels(reference_onnx(size))
    assert {k: counts[k] for k in FUSED_OPS} == FUSED_OPS
    assert counts["Conv"] == 0 and counts["Selu"] == 0
    ops = Counter(n.op_type for n in onnx.load_from_string(fused).graph.node)
    assert ops == Counter(FUSED_OPS)  # no stock Resize/Concat/AveragePool left either


def _stem_graph(h: int, w: int, fused: bool) -> bytes:
    """Conv 7x7/2 pad 3 -> Selu -> AveragePool 2x2 (both outputs), stock or as one dn.Stem."""
    rng = np.random.default_rng(h * w)
    wt = numpy_helper.from_array(rng.normal(0, 0.1, (14, 3, 7, 7)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.normal(0, 0.1, 14).astype(np.float32), "b")
    if fused:
        nodes = [helper.make_node("Stem", ["x", "w", "b"], ["s", "p"], domain="dn")]
    else:
        nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[7, 7],
                                  strides=[2, 2], pads=[3, 3, 3, 3]),
                 helper.make_node("Selu", ["c"], ["s"]),
                 helper.make_node("AveragePool", ["s"], ["p"], kernel_shape=[2, 2],
                                  strides=[2, 2])]
    graph = helper.make_graph(
        nodes, "stem", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, h, w])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("s", "p")],
        [wt, b])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                   helper.make_opsetid("dn", 1)]
                             ).SerializeToString()


def _session(model: bytes, isa: str | None):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 4  # errors are asserted, not logged
    so.intra_op_num_threads = 2
    if isa:
        so.register_custom_ops_library(str(library_path(isa)))
    return ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("hw", [(21, 37), (22, 70), (64, 200), (6, 4)])
def test_stem_kernel_takes_any_size(hw, isa):
    x = np.random.default_rng(1).normal(0, 1, (1, 3, *hw)).astype(np.float32)
    want = _session(_stem_graph(*hw, fused=False), None).run(None, {"x": x})
    got = _session(_stem_graph(*hw, fused=True), isa).run(None, {"x": x})
    for g, s in zip(got, want, strict=True):
        assert g.shape == s.shape
        np.testing.assert_allclose(g, s, rtol=1e-5, atol=1e-5)


def test_one_and_two_threads_give_the_same_output(isa, kitti_drive_dir):
    model = reference_onnx(FULL)
    one = OrtBackend(model, FULL, source="reference", threads=1)
    two = OrtBackend(model, FULL, source="reference", threads=2)
    assert one.cpu_settings["threads"] == 1 and two.cpu_settings["threads"] == 2
    assert one.cpu_settings["isa"] == two.cpu_settings["isa"] == isa
    x = _inputs(kitti_drive_dir, FULL, 1)[0]
    np.testing.assert_array_equal(one.run(x), two.run(x))


def test_environment_switch_runs_the_tuned_graph(monkeypatch):
    monkeypatch.setenv(ENV_SWITCH, "0")
    monkeypatch.setenv(ISA_SWITCH, "avx2")
    backend = OrtBackend(reference_onnx(REF), REF, source="reference", threads=1)
    assert backend.cpu_path == f"tuned-graph (disabled by {ENV_SWITCH}=0)"
    assert backend.cpu_settings["isa"] is None
    assert kernels_usable() == (False, f"disabled by {ENV_SWITCH}=0")


def _cpuinfo(tmp_path: Path, flags: str) -> Path:
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nflags\t\t: fpu sse2 {flags}\n")
    return path


def test_best_isa_the_cpu_has_is_chosen(monkeypatch, tmp_path):
    monkeypatch.delenv(ISA_SWITCH, raising=False)
    avx512 = "avx2 fma avx512f avx512dq avx512bw avx512vl"
    assert choose_isa(_cpuinfo(tmp_path, avx512))[0] == "avx512"
    assert choose_isa(_cpuinfo(tmp_path, "avx2 fma avx512f"))[0] == "avx2"  # no DQ/BW/VL
    isa, why = choose_isa(_cpuinfo(tmp_path, "avx fma"))
    assert isa is None
    assert why == "CPU lacks avx512f/avx512dq/avx512bw/avx512vl for avx512; CPU lacks avx2 for avx2"
    monkeypatch.setenv(ISA_SWITCH, "AVX512")
    isa, why = choose_isa(_cpuinfo(tmp_path, "avx2 fma"))
    assert isa is None and why.endswith(f"for avx512 ({ISA_SWITCH}=avx512)")


def test_a_bad_isa_switch_is_a_clear_error(monkeypatch):
    monkeypatch.setenv(ISA_SWITCH, "sse4")
    with pytest.raises(InferenceError, match=f"{ISA_SWITCH}='sse4' is not one of avx512, avx2"):
        OrtBackend(reference_onnx(REF), REF, source="reference", threads=1)


def test_a_graph_without_ep_modules_falls_back_and_matches_stock(kitti_drive_dir):
    est = DepthEstimator.from_model(build_peer("fastdepth"), REF, "onnxruntime",
                                    source="fastdepth", cpu_threads=1)
    assert est.cpu_settings["path"].startswith("tuned-graph (graph has no DepthNet Nano EP")
    frame = kitti_frames(kitti_drive_dir, 1)[0]
    assert np.isfinite(est.estimate(frame).depth).all()


def test_kernel_errors_name_the_op(isa):
    w = numpy_helper.from_array(np.zeros(5, np.float32), "w")  # Trans wants Cout x Cin = 8
    b = numpy_helper.from_array(np.zeros(2, np.float32), "b")
    node = helper.make_node("Trans", ["x", "w", "b"], ["y"], domain="dn", pool=0)
    graph = helper.make_graph([node], "bad", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [1, 4, 2, 2])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, None)], [w, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("dn", 1)])
    session = _session(model.SerializeToString(), isa)
    with pytest.raises(Exception, match="dn.Trans: W must hold Cout x Cin weights"):
        session.run(None, {"x": np.zeros((1, 4, 2, 2), np.float32)})
