"""Live evaluation end to end: a real depth_node process, the evaluator playing the bag in another
process, a second evaluator listening with --no-play, DepthMetrics on ~/metrics; scores equal
the offline ones when no frame is dropped, and dropped frames are counted."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from ros_helpers import VENV, NodeProcess, RosHarness, ros_env

from depthnet_nano_ros import cli
from depthnet_nano_ros.evaluation.bag_source import BagSource
from depthnet_nano_ros.evaluation.metrics import METRIC_NAMES, EvalSettings
from depthnet_nano_ros.evaluation.offline import evaluate_offline

try:
    from tf2_msgs.msg import TFMessage
except ImportError:  # tf2_msgs comes with ../shared/ros2_tools (make test installs it)
    TFMessage = None

IMAGE = "/kitti/camera_color_left/image_raw"
INFO = "/kitti/camera_color_left/camera_info"
LIDAR = "/kitti/velo/pointcloud"
EVALUATE = [str(VENV / "bin" / "depthnet_nano"), "evaluate"]


def test_live_scorer_pairs_in_any_arrival_order() -> None:
    """ROS-free core: depth before or after its scan, duplicates, strangers, a lost scan."""
    from depthnet_nano_ros.evaluation.bag_source import CameraGeometry
    from depthnet_nano_ros.evaluation.live_scoring import LiveScorer
    from depthnet_nano_ros.evaluation.offline import lidar_ground_truth
    from depthnet_nano_ros.evaluation.pairing import pair_nearest

    images = np.array([100, 200, 300, 400])
    scans = np.array([95, 210, 290, 600])  # image 400 has no scan within 50 -> rejected
    pairing = pair_nearest(images, scans, 50)
    K = np.array([[10.0, 0, 2], [0, 10.0, 2], [0, 0, 1]])
    geometry = CameraGeometry(K, np.eye(4), "test")
    scored = []
    scorer = LiveScorer(images, scans, pairing, EvalSettings(crop="none"), geometry,
                        lidar_ground_truth, on_score=lambda s, d: scored.append(s.stamp_ns))
    point = np.array([[0.0, 0.0, 5.0]], np.float32)  # lands on pixel (2, 2) at 5 m
    depth = np.full((5, 5), 4.0, np.float32)
    scorer.add_depth(200, depth)  # before its scan: waits
    assert scored == [] and scorer.pending() == 1
    scorer.add_scan(210, point)
    assert scored == [200]
    scorer.add_scan(95, point)  # scan first, then depth
    scorer.add_depth(100, depth)
    scorer.add_depth(100, depth)  # duplicate
    scorer.add_depth(123, depth)  # no such image
    scorer.add_depth(400, depth)  # rejected pair: received, not scored
    scorer.add_depth(300, depth)  # its scan never comes
    assert scored == [200, 100] and scorer.finish() == 1
    c = scorer.counts
    assert (c.depth_received, c.duplicates, c.unexpected, c.unpaired) == (6, 1, 1, 1)
    assert scorer.scores[0].valid_points == 1
    assert scorer.scores[0].metrics["abs_rel"] == pytest.approx(0.2)


def test_depth_encodings() -> None:
    from sensor_msgs.msg import Image

    from depthnet_nano_ros.evaluation.errors import EvaluationError
    from depthnet_nano_ros.ros.live_evaluator import depth_metres

    mm = Image(height=1, width=3, encoding="16UC1", step=6, data=np.array(
        [0, 1500, 65535], "<u2").tobytes())
    assert np.allclose(depth_metres(mm), [[np.nan, 1.5, 65.535]], equal_nan=True)
    m = Image(height=1, width=2, encoding="32FC1", step=8,
              data=np.array([2.5, np.nan], "<f4").tobytes())
    assert np.allclose(depth_metres(m), [[2.5, np.nan]], equal_nan=True)
    with pytest.raises(EvaluationError, match="'rgb8' is not 32FC1"):
        depth_metres(Image(height=1, width=1, encoding="rgb8", step=3, data=bytes(3)))


def _bag(date_dir: Path, out: Path, frames: str) -> Path:
    assert cli.main(["kitti2bag", str(date_dir), "--drive", "0005", "--frames", frames,
                     "--output", str(out), "--no-progress"]) == 0
    return out


@pytest.fixture(scope="module")
def setup(kitti_date_dir: Path, tmp_path_factory) -> dict:
    import torch

    from depthnet_nano_ros.model.checkpoint import save_checkpoint
    from depthnet_nano_ros.model.depthnet_nano import DepthNetNano

    tmp = tmp_path_factory.mktemp("live")
    torch.manual_seed(0)
    ckpt = save_checkpoint(tmp / "random.pt", DepthNetNano(), input_size=(96, 320))
    return {"tmp": tmp, "ckpt": ckpt, "bag": _bag(kitti_date_dir, tmp / "bag3", "0:3"),
            "bag10": _bag(kitti_date_dir, tmp / "bag10", "0:10")}


@pytest.fixture(scope="module")
def node(setup: dict):
    """depth_node on the bag's topics, publishing the estimator's depth unclipped."""
    params = {"model.checkpoint": str(setup["ckpt"]), "model.backend": "torch",
              "depth.min": 0.0, "depth.max": 1e9}
    with NodeProcess(setup["tmp"] / "node.log", params=params,
                     remaps={"image": IMAGE, "camera_info": INFO}) as proc:
        yield proc


def _offline(setup: dict) -> dict[int, dict]:
    from depthnet_nano_ros.inference.estimator import DepthEstimator

    est = DepthEstimator.create(checkpoint=setup["ckpt"], backend="torch")
    with BagSource(setup["bag"]) as src:
        result = evaluate_offline(src, lambda rgb: est.estimate(rgb).depth, EvalSettings(),
                                  progress=False)
    return {s.stamp_ns: s.metrics for s in result.scores}


def _start(argv: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(EVALUATE + argv + ["--no-progress"], env=ros_env(),
                            stdout=log.open("w"), stderr=subprocess.STDOUT)


def _finish(harness: RosHarness, proc: subprocess.Popen, log: Path, timeout: float = 120) -> str:
    harness.spin_until(lambda: proc.poll() is not None, timeout=timeout,
                       what=f"evaluator {log.name} to finish")
    out = log.read_text()
    assert proc.returncode == 0, out
    return out


def test_live_equals_offline_play_and_listen(setup: dict, node: NodeProcess) -> None:
    from depthnet_nano_ros.msg import DepthMetrics
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    tmp = setup["tmp"]
    bag = str(setup["bag"])
    with RosHarness("live_eval_test") as h:
        qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
        metrics = h.collect(DepthMetrics, "/listener/metrics", qos)
        tf_static = h.collect(TFMessage, "/tf_static", qos) if TFMessage else None
        # the player publishes /tf_static once, latched, and may exit within seconds: it waits
        # for our image subscription too, so it has discovered this harness before it publishes
        from sensor_msgs.msg import Image
        h.collect(Image, IMAGE)
        listener = _start([bag, "--live", "--no-play", "--node-name", "listener", "--json",
                           str(tmp / "listen.json"), "--idle-timeout", "5"], tmp / "listen.log")
        try:
            # the listener is subscribed to lidar and depth, and its metrics publisher matched
            # with ours, before anything is played
            h.wait_matched(subscriptions=[metrics.sub], timeout=60)
            h.spin_until(lambda: h.node.count_subscribers(LIDAR) >= 1
                         and h.node.count_subscribers("/depth") >= 1, timeout=60,
                         what="the --no-play evaluator to subscribe")
            player = _start([bag, "--live", "--rate", "0.3", "--wait-image-subscribers", "3",
                             "--wait-lidar-subscribers", "1", "--json", str(tmp / "play.json"),
                             "--report", str(tmp / "report"), "--save-predictions",
                             str(tmp / "pred")], tmp / "play.log")
            out = _finish(h, player, tmp / "play.log")
            _finish(h, listener, tmp / "listen.log")
        finally:
            listener.kill() if listener.poll() is None else None
        h.spin_until(lambda: len(metrics.msgs) >= 3, timeout=20, what="3 DepthMetrics")
        if tf_static is not None:  # the player published the bag's static transforms
            h.spin_until(lambda: tf_static.msgs, timeout=20, what="/tf_static from the player")
            frames = {(t.header.frame_id, t.child_frame_id)
                      for m in tf_static.msgs for t in m.transforms}
            assert any("velo" in child or "velo" in parent for parent, child in frames), frames
    assert "dropped by the node: 0" in out
    offline = _offline(setup)
    assert len(offline) == 3
    for name in ("play", "listen"):
        doc = json.loads((tmp / f"{name}.json").read_text())
        assert doc["mode"] == "live" and doc["frames"] == 3 and doc["dropped"] == 0, name
        assert doc["live"]["images_published"] == 3 and doc["live"]["lidar_missing"] == 0
        for entry in doc["per_frame"]:
            for m in METRIC_NAMES:
                assert entry[m] == pytest.approx(offline[entry["stamp_ns"]][m], rel=1e-4), m
    by_stamp = {m.header.stamp.sec * 10**9 + m.header.stamp.nanosec: m for m in metrics.msgs}
    assert sorted(by_stamp) == sorted(offline)
    for stamp, msg in by_stamp.items():
        assert msg.abs_rel == pytest.approx(offline[stamp]["abs_rel"], rel=1e-4)
        assert msg.a1 == pytest.approx(offline[stamp]["a1"], rel=1e-4)
        assert msg.scale == 1.0 and msg.valid_points > 1000
    assert (tmp / "report" / "index.html").is_file()
    preds = sorted((tmp / "pred").glob("*.npy"))
    assert len(preds) == 3 and np.load(preds[0]).shape == (375, 1242)


def test_dropped_frames_are_counted(setup: dict, node: NodeProcess) -> None:
    tmp = setup["tmp"]
    # 10 images in ~1 ms: the node (busy with inference) cannot answer them all
    with RosHarness("live_drop_test") as h:
        proc = _start([str(setup["bag10"]), "--live", "--rate", "1000", "--idle-timeout", "4",
                       "--node-name", "dropper", "--json", str(tmp / "drop.json")],
                      tmp / "drop.log")
        out = _finish(h, proc, tmp / "drop.log")
    doc = json.loads((tmp / "drop.json").read_text())
    live = doc["live"]
    assert live["images_published"] == doc["images"] == 10
    assert doc["dropped"] == live["dropped"] >= 1, out
    assert doc["frames"] + doc["pairs_rejected"] + doc["dropped"] == 10
    assert f"dropped by the node: {doc['dropped']}" in out


def test_no_depth_publisher_is_an_error(setup: dict, node: NodeProcess, capsys) -> None:
    start = time.monotonic()
    rc = cli.main(["evaluate", str(setup["bag"]), "--live", "--depth-topic", "/nowhere",
                   "--start-timeout", "3", "--node-name", "lonely", "--no-progress"])
    assert rc == 2 and time.monotonic() - start < 60
    err = capsys.readouterr().err
    assert "timed out after 3 s waiting for a depth node" in err and "/nowhere" in err
