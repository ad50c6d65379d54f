"""Fused onnxruntime CPU kernels (src/cpu_kernels): exact vs the stock graph, used, fallbacks."""

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
from depthnet_nano_ros.inference.cpu_kernels import ENV_SWITCH, kernels_usable, library_path
from depthnet_nano_ros.inference.estimator import DepthEstimator
from depthnet_nano_ros.inference.graph_fused import fuse_for_cpu_kernels
from depthnet_nano_ros.inference.peers import build_peer
from depthnet_nano_ros.model.checkpoint import REFERENCE_CHECKPOINT
from depthnet_nano_ros.model.transforms import prepare_input

_USABLE, _WHY = kernels_usable()
pytestmark = pytest.mark.skipif(not _USABLE, reason=f"fused CPU kernels unavailable: {_WHY}")
FULL = (384, 1280)  # every op fused (the stem needs width % 128 == 0)
REF = (96, 320)  # the reference checkpoint's size: the stem stays stock


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


def _max_rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.abs(b)))


@pytest.mark.parametrize("size", [REF, FULL], ids=["96x320", "384x1280"])
def test_fused_graph_matches_stock_on_kitti(size, kitti_drive_dir):
    model = reference_onnx(size)
    fused = OrtBackend(model, size, source="reference", threads=2)
    stock = OrtBackend(model, size, source="reference", threads=2, cpu_rewrites=False)
    assert fused.cpu_path.startswith("fused-kernels ("), fused.cpu_path
    assert fused.cpu_settings["path"] == fused.cpu_path
    assert stock.cpu_path == "stock-graph"
    worst = max(_max_rel(fused.run(x), stock.run(x)) for x in _inputs(kitti_drive_dir, size))
    print(f"{size[0]}x{size[1]}: max relative depth error fused vs stock {worst:.2e}")
    assert worst <= 1e-4


def test_rewrite_replaces_the_whole_network_at_full_size():
    _, counts = fuse_for_cpu_kernels(reference_onnx(FULL))
    fused_ops = {"FusedStage": 4, "FusedUpEP": 4, "FusedEP": 4, "Trans": 4, "Stem": 1,
                 "Head3x3": 1}
    assert {k: counts[k] for k in fused_ops} == fused_ops
    assert counts["Conv"] == 0 and counts["Selu"] == 0
    fused, _ = fuse_for_cpu_kernels(reference_onnx(FULL))
    ops = Counter(n.op_type for n in onnx.load_from_string(fused).graph.node)
    assert ops == Counter(fused_ops)  # no stock Resize/Concat/AveragePool left either


def test_stem_stays_stock_where_its_kernel_cannot_take_the_width():
    _, counts = fuse_for_cpu_kernels(reference_onnx(REF))  # 320 % 128 != 0
    assert counts["Stem"] == 0 and counts["Conv"] == 1 and counts["Selu"] == 1
    assert counts["FusedStage"] == 4 and counts["FusedUpEP"] == 4 and counts["Head3x3"] == 1


def test_one_and_two_threads_give_the_same_output(kitti_drive_dir):
    model = reference_onnx(FULL)
    one = OrtBackend(model, FULL, source="reference", threads=1)
    two = OrtBackend(model, FULL, source="reference", threads=2)
    assert one.cpu_settings["threads"] == 1 and two.cpu_settings["threads"] == 2
    x = _inputs(kitti_drive_dir, FULL, 1)[0]
    np.testing.assert_array_equal(one.run(x), two.run(x))


def test_environment_switch_runs_the_tuned_graph(monkeypatch):
    monkeypatch.setenv(ENV_SWITCH, "0")
    backend = OrtBackend(reference_onnx(REF), REF, source="reference", threads=1)
    assert backend.cpu_path == f"tuned-graph (disabled by {ENV_SWITCH}=0)"
    assert kernels_usable() == (False, f"disabled by {ENV_SWITCH}=0")


def test_a_graph_without_ep_modules_falls_back_and_matches_stock(kitti_drive_dir):
    est = DepthEstimator.from_model(build_peer("fastdepth"), REF, "onnxruntime",
                                    source="fastdepth", cpu_threads=1)
    assert est.cpu_settings["path"].startswith("tuned-graph (graph has no DepthNet Nano EP")
    frame = kitti_frames(kitti_drive_dir, 1)[0]
    assert np.isfinite(est.estimate(frame).depth).all()


def test_kernel_errors_name_the_op():
    import onnxruntime as ort

    w = numpy_helper.from_array(np.zeros(5, np.float32), "w")  # Trans wants Cout x Cin = 8
    b = numpy_helper.from_array(np.zeros(2, np.float32), "b")
    node = helper.make_node("Trans", ["x", "w", "b"], ["y"], domain="dn", pool=0)
    graph = helper.make_graph([node], "bad", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [1, 4, 2, 2])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, None)], [w, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("dn", 1)])
    so = ort.SessionOptions()
    so.log_severity_level = 4  # the error is asserted below, not logged
    so.register_custom_ops_library(str(library_path()))
    session = ort.InferenceSession(model.SerializeToString(), so,
                                   providers=["CPUExecutionProvider"])
    with pytest.raises(Exception, match="dn.Trans: W must hold Cout x Cin weights"):
        session.run(None, {"x": np.zeros((1, 4, 2, 2), np.float32)})
