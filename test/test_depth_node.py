"""depth_node in its own process, fed real KITTI frames over DDS (real rclpy, best-effort QoS)."""

from __future__ import annotations

import io
import math
import os
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml
from ros_helpers import (
    KITTI_SIZE,
    RELIABLE,
    NodeProcess,
    RosHarness,
    camera_info_msg,
    diagnostics_values,
    image_msg,
    kitti_p_rect_02,
    load_kitti_rgb,
)

from depthnet_nano_ros.ros.fuzz_cases import png_bomb
from depthnet_nano_ros.ros.latest_frame import LatestFrameSlot

FRAME = "camera_color_left"
NODE_A = "/depth_node: "  # its DiagnosticStatus name starts so
INPUT_SIZE = (96, 320)
NODE_YAML = {  # non-default values whose effect the tests observe
    "model": {"backend": "torch", "input_height": INPUT_SIZE[0], "input_width": INPUT_SIZE[1]},
    "input": {"max_pixels": 500_000},  # KITTI's 465,750 pass
    "depth": {"min": 40.0, "max": 79.5},
    "cloud": {"decimation": 4},
    "qos": {"output": {"reliability": "best_effort", "depth": 2}},
    "diagnostics": {"period": 0.5, "warn_throttle": 0.5},
}


# -- the one-slot buffer (no ROS) -----------------------------------------------------------
def test_latest_frame_slot_keeps_only_the_newest():
    slot: LatestFrameSlot[int] = LatestFrameSlot()
    assert slot.put(1) is False and slot.put(2) is True and slot.put(3) is True
    assert (slot.received, slot.dropped) == (3, 2)
    assert slot.get(timeout=0) == 3 and slot.get(timeout=0) is None
    got = []
    consumer = threading.Thread(target=lambda: got.append(slot.get(timeout=30)))
    consumer.start()
    slot.put(4)
    consumer.join(30)
    assert got == [4]
    slot.close()
    assert slot.get(timeout=0) is None


# -- fixtures -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A random-weight (seeded) checkpoint at a tiny input size."""
    import torch

    from depthnet_nano_ros.model.checkpoint import save_checkpoint
    from depthnet_nano_ros.model.depthnet_nano import DepthNetNano

    torch.manual_seed(0)
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "m.pt", DepthNetNano(),
                           input_size=INPUT_SIZE)


@pytest.fixture(scope="module")
def kitti(kitti_drive_dir, kitti_date_dir):
    """Two real frames and P_rect_02."""
    return {"rgb": [load_kitti_rgb(kitti_drive_dir, i) for i in (0, 1)],
            "P": kitti_p_rect_02(kitti_date_dir)}


@pytest.fixture(scope="module")
def harness():
    with RosHarness("depth_node_test") as h:
        yield h


class Rig:
    """Node A, the test's publishers and collectors of every output."""

    def __init__(self, harness: RosHarness, node: NodeProcess, kitti: dict) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from sensor_msgs.msg import CameraInfo, Image, PointCloud2

        self.h, self.node, self.kitti = harness, node, kitti
        n = harness.node
        self.image_pub = n.create_publisher(Image, "/kitti/image", 5)
        self.info_pub = n.create_publisher(CameraInfo, "/kitti/camera_info", 5)
        self.depth = harness.collect(Image, "/kitti/depth")
        self.info = harness.collect(CameraInfo, "/kitti/depth/camera_info")
        self.colored = harness.collect(Image, "/kitti/depth/colored")
        self.points = harness.collect(PointCloud2, "/kitti/points")
        self.diag = harness.collect(DiagnosticArray, "/diagnostics", RELIABLE)
        self.count = 0
        self.bad_stamps: list = []
        harness.wait_matched([self.image_pub, self.info_pub],
                             [c.sub for c in (self.depth, self.info, self.colored, self.points,
                                              self.diag)], alive=node)

    def next_stamp(self):
        self.count += 1
        return self.h.stamp(self.count)

    def good_info(self):
        return camera_info_msg(self.kitti["P"], KITTI_SIZE, FRAME)

    def send(self, msg, info=None, wait_for=(), timeout=30.0):
        """Publish (re-publishing every 3 s) until depth and `wait_for` have msg's stamp."""
        wait_for = (self.depth, *wait_for)
        info = info or self.good_info()

        def publish():
            info.header.stamp = msg.header.stamp
            self.info_pub.publish(info)
            self.image_pub.publish(msg)

        self.h.spin_until(lambda: all(c.by_stamp(msg.header.stamp) for c in wait_for), timeout,
                          every=(3.0, publish), what=f"output for stamp {msg.header.stamp.sec}",
                          alive=self.node)
        return [c.by_stamp(msg.header.stamp)[0] for c in wait_for]

    def frame(self, i=0, encoding="rgb8"):
        rgb = self.kitti["rgb"][i]
        data = {"rgb8": rgb, "bgr8": rgb[:, :, ::-1]}[encoding]
        return image_msg(data, encoding, FRAME, self.next_stamp())

    def fresh_diagnostics(self) -> dict[str, str]:
        """Values of a /diagnostics message generated after now (skips one in flight)."""
        n = len(self.diag.msgs)
        self.h.spin_until(lambda: len(self.diag.msgs) >= n + 2, 20, what="/diagnostics",
                          alive=self.node)
        values = diagnostics_values(self.diag.msgs[-1], NODE_A)
        assert values is not None, self.diag.msgs[-1]
        return values


@pytest.fixture(scope="module")
def rig(harness, checkpoint, kitti, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("node_a")
    params = tmp / "params.yaml"
    cfg = {**NODE_YAML, "model": {**NODE_YAML["model"], "checkpoint": str(checkpoint)}}
    params.write_text(yaml.safe_dump({"depth_node": {"ros__parameters": cfg}}))
    remaps = {t: f"/kitti/{t}" for t in ("image", "camera_info", "depth", "depth/camera_info",
                                         "depth/colored", "points", "scan")}
    with NodeProcess(tmp / "node.log", params_file=params, remaps=remaps) as node:
        yield Rig(harness, node, kitti)
        assert node.alive(), node.log()[-3000:]
        assert node.stop() == 0, node.log()[-3000:]
        assert "Traceback" not in node.log(), node.log()[-3000:]


def _reference_depth(checkpoint: Path, rgb: np.ndarray) -> np.ndarray:
    from depthnet_nano_ros.inference.estimator import DepthEstimator

    est = DepthEstimator.create(checkpoint=checkpoint, backend="torch", input_size=INPUT_SIZE)
    return est.estimate(rgb).depth


# -- node A ---------------------------------------------------------------------------------
def test_depth_info_points_colored_for_a_kitti_frame(rig, checkpoint, kitti):
    msg = rig.frame(0)
    depth_msg, info, cloud, colored = rig.send(msg, wait_for=(rig.info, rig.points, rig.colored))
    assert depth_msg.header.frame_id == FRAME
    assert (depth_msg.encoding, depth_msg.height, depth_msg.width) == ("32FC1", *KITTI_SIZE)
    assert depth_msg.step == KITTI_SIZE[1] * 4 and not depth_msg.is_bigendian
    depth = np.frombuffer(depth_msg.data, "<f4").reshape(KITTI_SIZE)

    # The YAML range [40, 79.5] applied to exactly what the estimator predicts.
    ref = _reference_depth(checkpoint, kitti["rgb"][0])
    lo, hi = NODE_YAML["depth"]["min"], NODE_YAML["depth"]["max"]
    inside = (ref >= lo) & (ref <= hi)
    near_edge = (np.abs(ref - lo) < 1e-2) | (np.abs(ref - hi) < 1e-2)
    assert (ref < lo).any() and inside.any() and (ref > hi).any(), "seeded model: all 3 cases"
    np.testing.assert_array_equal(np.isfinite(depth)[~near_edge], inside[~near_edge])
    np.testing.assert_allclose(depth[inside & ~near_edge], ref[inside & ~near_edge], rtol=1e-3)

    assert info.header.frame_id == FRAME and list(info.p) == list(kitti["P"].reshape(-1))
    assert (info.height, info.width) == KITTI_SIZE

    h, w = math.ceil(KITTI_SIZE[0] / 4), math.ceil(KITTI_SIZE[1] / 4)  # YAML decimation 4
    assert (cloud.height, cloud.width, cloud.header.frame_id) == (h, w, FRAME)
    assert [(f.name, f.offset, f.datatype, f.count) for f in cloud.fields] == [
        ("x", 0, 7, 1), ("y", 4, 7, 1), ("z", 8, 7, 1)]
    assert cloud.point_step == 12 and cloud.row_step == 12 * w and not cloud.is_dense
    pts = np.frombuffer(cloud.data, "<f4").reshape(h, w, 3)
    P = kitti["P"]
    fx, fy, cx, cy = P[0, 0], P[1, 1], P[0, 2], P[1, 2]
    finite_vu = np.argwhere(np.isfinite(depth[::4, ::4]))
    assert len(finite_vu) > 10
    for r, c in finite_vu[:: max(1, len(finite_vu) // 7)]:
        u, v = 4 * c, 4 * r
        d = float(depth[v, u])
        np.testing.assert_allclose(pts[r, c], [(u - cx) * d / fx, (v - cy) * d / fy, d],
                                   rtol=1e-5, atol=1e-6 * d)  # float32 x near the axis
    assert np.isnan(pts[~np.isfinite(depth[::4, ::4])]).all()

    assert (colored.encoding, colored.height, colored.width) == ("rgb8", *KITTI_SIZE)
    col = np.frombuffer(colored.data, np.uint8).reshape(*KITTI_SIZE, 3)
    assert (col[~np.isfinite(depth)] == 0).all() and col[np.isfinite(depth)].any()


@pytest.mark.parametrize("encoding", ["rgba8", "bgra8", "mono8"])
def test_other_input_encodings(rig, checkpoint, kitti, encoding):
    rgb = kitti["rgb"][0]
    alpha = np.full((*KITTI_SIZE, 1), 255, np.uint8)
    data = {"rgba8": np.concatenate([rgb, alpha], 2),
            "bgra8": np.concatenate([rgb[:, :, ::-1], alpha], 2), "mono8": rgb[:, :, 1]}[encoding]
    msg = image_msg(data, encoding, FRAME, rig.next_stamp())
    (depth_msg,) = rig.send(msg)
    depth = np.frombuffer(depth_msg.data, "<f4").reshape(KITTI_SIZE)
    seen = np.repeat(rgb[:, :, 1:2], 3, 2) if encoding == "mono8" else rgb
    ref = _reference_depth(checkpoint, seen)
    ok = np.isfinite(depth)
    assert ok.any()
    np.testing.assert_allclose(depth[ok], ref[ok], rtol=1e-3)


def test_yaml_parameters_are_loaded(rig):
    from rcl_interfaces.srv import GetParameters

    names = ["cloud.decimation", "depth.min", "depth.max", "model.input_width",
             "qos.output.reliability"]
    resp = rig.h.call(GetParameters, "/depth_node/get_parameters", GetParameters.Request(
        names=names))
    got = [v.integer_value if v.type == 2 else v.double_value if v.type == 3 else v.string_value
           for v in resp.values]
    assert got == [4, 40.0, 79.5, INPUT_SIZE[1], "best_effort"]
    values = rig.fresh_diagnostics()
    assert values["input_size"] == f"{INPUT_SIZE[0]}x{INPUT_SIZE[1]}"
    assert values["backend"] == "torch"
    assert int(values["colored"]) > 0 and int(values["points"]) > 0  # subscribed here


def _set(rig, **params):
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters

    def value(v):
        if isinstance(v, bool):
            return ParameterValue(type=ParameterType.PARAMETER_BOOL, bool_value=v)
        if isinstance(v, int):
            return ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=v)
        if isinstance(v, float):
            return ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=v)
        return ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=v)

    req = SetParameters.Request(parameters=[Parameter(name=k.replace("__", "."), value=value(v))
                                            for k, v in params.items()])
    return rig.h.call(SetParameters, "/depth_node/set_parameters", req).results


def test_runtime_parameters_full_resolution_colour_cloud(rig, kitti):
    assert all(r.successful for r in _set(rig, cloud__decimation=1, cloud__color=True))
    msg = rig.frame(1, encoding="bgr8")  # bgr8 input must still colour the cloud in RGB
    depth_msg, cloud = rig.send(msg, wait_for=(rig.points,))
    assert (cloud.height, cloud.width, cloud.point_step) == (*KITTI_SIZE, 16)
    assert [f.name for f in cloud.fields] == ["x", "y", "z", "rgb"]
    raw = np.frombuffer(cloud.data, np.uint8).reshape(*KITTI_SIZE, 16)
    rgb = raw[:, :, 12:16].copy().view("<u4")[:, :, 0]
    expected = kitti["rgb"][1].astype(np.uint32)
    np.testing.assert_array_equal(rgb, (expected[..., 0] << 16) | (expected[..., 1] << 8)
                                  | expected[..., 2])
    z = raw[:, :, 8:12].copy().view("<f4")[:, :, 0]
    depth = np.frombuffer(depth_msg.data, "<f4").reshape(KITTI_SIZE)
    np.testing.assert_array_equal(z, depth)
    assert all(r.successful for r in _set(rig, cloud__decimation=4, cloud__color=False))


def test_16uc1_millimetres_with_a_consistent_cloud(rig, checkpoint, kitti):
    (r,) = _set(rig, depth__encoding="16UC3")
    assert not r.successful and "16UC1" in r.reason
    assert all(r.successful for r in _set(rig, depth__encoding="16UC1", depth__min=1.0))
    try:
        depth_msg, cloud = rig.send(rig.frame(0), wait_for=(rig.points,))
    finally:
        assert all(r.successful for r in _set(rig, depth__encoding="32FC1", depth__min=40.0))
    assert (depth_msg.encoding, depth_msg.step, depth_msg.is_bigendian) == (
        "16UC1", 2 * KITTI_SIZE[1], 0)
    mm = np.frombuffer(depth_msg.data, "<u2").reshape(KITTI_SIZE)
    ref = _reference_depth(checkpoint, kitti["rgb"][0])
    hi = min(NODE_YAML["depth"]["max"], 65.535)  # 16UC1 holds at most 65.535 m
    edge = (np.abs(ref - 1.0) < 1e-2) | (np.abs(ref - hi) < 1e-2)
    inside = (ref >= 1.0) & (ref <= hi) & ~edge
    assert inside.any() and (ref > hi + 1e-2).any(), "seeded model: both cases"
    assert (mm[~inside & ~edge] == 0).all()  # 0 = invalid (REP 118), also beyond 65.535 m
    np.testing.assert_allclose(mm[inside], ref[inside] * 1000, rtol=1e-3, atol=0.5)
    # points are made from the millimetres as published (what depth_image_proc would compute)
    k = NODE_YAML["cloud"]["decimation"]
    z = np.frombuffer(cloud.data, "<f4").reshape(*mm[::k, ::k].shape, 3)[:, :, 2]
    sub = mm[::k, ::k]
    np.testing.assert_array_equal(z[sub > 0], sub[sub > 0].astype(np.float32) * np.float32(1e-3))
    assert np.isnan(z[sub == 0]).all()


def test_laserscan_follows_the_published_depth(rig, kitti):
    """scan: the band around cy of the published depth, depthimage_to_laserscan's way."""
    from sensor_msgs.msg import LaserScan

    from depthnet_nano_ros.geometry.laserscan import depth_to_scan

    scan_c = rig.h.collect(LaserScan, "/kitti/scan")
    (r,) = _set(rig, scan__rows=0)
    assert not r.successful and "scan.rows" in r.reason
    assert all(r.successful for r in _set(rig, scan__rows=21, scan__range_max=100.0,
                                           scan__frame_id="camera_scan", depth__min=1.0))
    try:
        rig.h.wait_matched([], [scan_c.sub], alive=rig.node)
        depth_msg, scan = rig.send(rig.frame(1), wait_for=(scan_c,))
    finally:
        assert all(r.successful for r in _set(rig, scan__rows=9, scan__range_max=30.0,
                                               scan__frame_id="", depth__min=40.0))
        rig.h.node.destroy_subscription(scan_c.sub)
    assert scan.header.stamp == depth_msg.header.stamp and scan.header.frame_id == "camera_scan"
    depth = np.frombuffer(depth_msg.data, "<f4").reshape(KITTI_SIZE)
    P = kitti["P"]
    want = depth_to_scan(depth, P[0, 0], P[0, 2], P[1, 2], 21, 1.0, 100.0)
    ranges = np.asarray(scan.ranges, np.float32)
    # uniform angle bins are finer than a pixel near the centre (depthimage_to_laserscan does
    # the same), so some central bins stay NaN: ~half the 1242 bins hold a return here
    assert ranges.shape == (KITTI_SIZE[1],) and np.isfinite(ranges).mean() > 0.4
    np.testing.assert_array_equal(ranges, want.ranges)
    assert (scan.angle_min, scan.angle_max, scan.angle_increment) == pytest.approx(
        (want.angle_min, want.angle_max, want.angle_increment), rel=1e-6)
    assert (scan.range_min, scan.range_max) == (1.0, 100.0)


def test_temporal_filter_blends_a_still_scene_like_the_core_filter(rig, checkpoint, kitti):
    """temporal.enable at run time: the second of two noisy copies of a frame is blended."""
    from depthnet_nano_ros.geometry.temporal_filter import TemporalFilter, TemporalSettings

    (r,) = _set(rig, temporal__alpha=1.0)
    assert not r.successful and "alpha" in r.reason
    rng = np.random.default_rng(3)
    noisy = [np.clip(kitti["rgb"][0] + rng.normal(0, 3, kitti["rgb"][0].shape), 0, 255)
             .astype(np.uint8) for _ in range(2)]
    assert all(r.successful for r in _set(rig, temporal__enable=True, temporal__alpha=0.5))
    try:
        got = [np.frombuffer(rig.send(image_msg(x, "rgb8", FRAME, rig.next_stamp()))[0].data,
                             "<f4").reshape(KITTI_SIZE) for x in noisy]
    finally:
        assert all(r.successful for r in _set(rig, temporal__enable=False, temporal__alpha=0.6))
    filt = TemporalFilter(TemporalSettings(alpha=0.5))
    raw = [_reference_depth(checkpoint, x) for x in noisy]
    want = [filt(x, d) for x, d in zip(noisy, raw, strict=True)]
    assert filt.last_blended > 0.5  # most of the still scene was blended
    lo, hi = NODE_YAML["depth"]["min"], NODE_YAML["depth"]["max"]
    inside = (want[1] > lo + 0.05) & (want[1] < hi - 0.05)
    assert inside.mean() > 0.05
    blend_effect = np.abs(want[1] - raw[1])[inside] / raw[1][inside]
    assert blend_effect.max() > 20 * 2e-5, blend_effect.max()  # the check below can tell
    for g, w in zip(got, want, strict=True):
        inside = (w > lo + 0.05) & (w < hi - 0.05)
        np.testing.assert_allclose(g[inside], w[inside], rtol=2e-5)


def test_invalid_parameter_changes_are_refused(rig):
    (r,) = _set(rig, depth__min=90.0)  # above depth.max = 79.5
    assert not r.successful and "depth.min" in r.reason
    (r,) = _set(rig, model__backend="onnxruntime")
    assert not r.successful  # read-only
    (r,) = _set(rig, cloud__decimation=0)
    assert not r.successful and "decimation" in r.reason


def _bad_images(rig):
    rgb = rig.kitti["rgb"][0]
    good = image_msg(rgb, "rgb8", FRAME)
    yuv = image_msg(rgb[:, :, :2].copy(), "rgb8", FRAME)
    yuv.encoding, yuv.step = "yuv422", KITTI_SIZE[1] * 2
    short = image_msg(rgb, "rgb8", FRAME)
    short.data = bytes(good.data[: len(good.data) - 100])
    empty = image_msg(rgb, "rgb8", FRAME)
    empty.height = empty.width = empty.step = 0
    empty.data = b""
    big = image_msg(rgb, "rgb8", FRAME)
    big.is_bigendian = 1
    narrow = image_msg(rgb[:, :, ::-1], "bgr8", FRAME)
    narrow.step = 100
    depth_in = image_msg(np.zeros((*KITTI_SIZE, 4), np.uint8), "rgb8", FRAME)
    depth_in.encoding, depth_in.step = "32FC1", KITTI_SIZE[1] * 4
    oversize = image_msg(np.zeros((600, 1000), np.uint8), "mono8", FRAME)
    return [(yuv, "yuv422"), (short, "bytes"), (empty, "zero size"), (big, "endian"),
            (narrow, "step 100"), (depth_in, "32FC1"), (oversize, "input.max_pixels")]


@pytest.mark.parametrize("case", range(7))
def test_bad_image_is_skipped_and_next_frame_processed(rig, case):
    bad, words = _bad_images(rig)[case]
    before = int(rig.fresh_diagnostics()["bad_input"])
    bad.header.stamp = rig.next_stamp()
    rig.bad_stamps.append(bad.header.stamp)
    state = {}

    def counted():
        if len(rig.diag.msgs) > state.get("n", 0):
            state["n"] = len(rig.diag.msgs)
            state["values"] = diagnostics_values(rig.diag.msgs[-1], NODE_A)
        return state.get("values") and int(state["values"]["bad_input"]) > before

    rig.h.spin_until(counted, 30, every=(3.0, lambda: rig.image_pub.publish(bad)),
                     what="bad_input counter", alive=rig.node)
    assert words in state["values"]["last_problem"], state["values"]
    assert state["values"]["__level__"] == "1"  # WARN while the problem is recent
    good = rig.frame(0)
    rig.send(good)
    for c in (rig.depth, rig.info, rig.colored, rig.points):
        assert not c.by_stamp(bad.header.stamp)
    assert "skipped a frame" in rig.node.log()


#: CameraInfo P changes (index -> value) that pass a finite/non-zero check but break the
#: float32 cloud, and the words the node's reason must contain.
_IMPLAUSIBLE = {"fx 1e-38": ({0: 1e-38}, "fx=1e-38"), "cx 3.4e38": ({2: 3.4e38}, "cx=3.4e+38"),
                "fx 1e39": ({0: 1e39}, "fx=1e+39"), "fx 1e-5": ({0: 1e-5}, "fx=1e-05"),
                "fx negative": ({0: -721.5377}, "negative focal length"),
                "fy negative": ({5: -721.5377}, "negative focal length")}


@pytest.mark.parametrize("problem", ["zero focal length", "differs from the image size",
                                     *_IMPLAUSIBLE])
def test_bad_camera_info_gives_depth_without_info_or_points(rig, problem):
    bad = rig.good_info()
    if problem == "zero focal length":
        bad.p = [0.0] * 12
    elif problem in _IMPLAUSIBLE:
        p = list(bad.p)
        for i, v in _IMPLAUSIBLE[problem][0].items():
            p[i] = v
        bad.p = p
        problem = _IMPLAUSIBLE[problem][1]
    else:
        bad.width, bad.height = 640, 480
    for _ in range(3):  # camera_info and image travel on different topics: retry if reordered
        before = int(rig.fresh_diagnostics()["bad_camera_info"])
        msg = rig.frame(0)
        rig.send(msg, info=bad)
        values = rig.fresh_diagnostics()
        if int(values["bad_camera_info"]) > before and problem in values["last_problem"]:
            break
    assert problem in values["last_problem"], values
    assert not rig.info.by_stamp(msg.header.stamp) and not rig.points.by_stamp(msg.header.stamp)
    assert "camera_info: CameraInfo P has" in rig.node.log() or "differs" in problem
    rig.send(rig.frame(0), wait_for=(rig.info, rig.points))  # a good CameraInfo restores both


def test_depth_follows_the_camera_info_focal_length(rig, checkpoint, kitti):
    """fx twice KITTI's (a 2x zoom): depth doubles, and /diagnostics shows the scale."""
    zoomed = rig.good_info()
    p = np.array(zoomed.p).reshape(3, 4)
    p[0, 0] *= 2
    zoomed.p = p.reshape(-1).tolist()
    ref = 2.0 * _reference_depth(checkpoint, kitti["rgb"][0])
    lo, hi = NODE_YAML["depth"]["min"], NODE_YAML["depth"]["max"]
    inside = (ref > lo + 0.05) & (ref < hi - 0.05)
    assert inside.any()
    for _ in range(3):  # camera_info and image travel on different topics: retry if reordered
        (depth_msg,) = rig.send(rig.frame(0), info=zoomed)
        depth = np.frombuffer(depth_msg.data, "<f4").reshape(KITTI_SIZE)
        if np.allclose(depth[inside], ref[inside], rtol=1e-3):
            break
    np.testing.assert_allclose(depth[inside], ref[inside], rtol=1e-3)
    values = rig.fresh_diagnostics()
    assert float(values["depth_scale"]) == pytest.approx(2.0, rel=1e-3), values
    assert values["reference_focal_px"].endswith("(assumed KITTI)"), values  # legacy checkpoint
    rig.send(rig.frame(0))  # back to the KITTI focal for the following tests


def test_a_new_camera_at_run_time_is_followed_without_restart(rig, kitti):
    """640x480 from another lens, then KITTI again: info, cloud, scan and scale follow."""
    from sensor_msgs.msg import LaserScan

    scan_c = rig.h.collect(LaserScan, "/kitti/scan")
    rig.h.wait_matched([], [scan_c.sub], alive=rig.node)
    rgb = np.ascontiguousarray(kitti["rgb"][1][:, 300:940][:, :, :].repeat(2, 0)[:480])
    p = np.array([[500.0, 0, 320.0, 0], [0, 500.0, 240.0, 0], [0, 0, 1.0, 0]])
    other = camera_info_msg(p, (480, 640), FRAME)
    try:
        for _ in range(3):  # camera_info and image travel on different topics: retry if reordered
            depth_msg, info, cloud, scan = rig.send(
                image_msg(rgb, "rgb8", FRAME, rig.next_stamp()), info=other,
                wait_for=(rig.info, rig.points, scan_c))
            if info.width == 640 and cloud.width * cloud.height == 160 * 120:
                break
        assert (depth_msg.height, depth_msg.width) == (480, 640)
        assert (info.height, info.width) == (480, 640) and info.p[0] == 500.0
        assert cloud.width * cloud.height == (480 // 4) * (640 // 4)  # cloud.decimation 4
        assert len(scan.ranges) == 640
        assert scan.angle_max == pytest.approx(math.atan2(320.0, 500.0), rel=1e-5)
        values = rig.fresh_diagnostics()
        # fx 500 px at width 640 against KITTI's 721.5377 px at 1242 (legacy reference)
        want = (500.0 / 640) / (721.5377 / 1242)
        assert float(values["depth_scale"]) == pytest.approx(want, rel=1e-3), values
        depth_msg, info, cloud, scan = rig.send(rig.frame(0), wait_for=(rig.info, rig.points,
                                                                        scan_c))
        assert (depth_msg.height, depth_msg.width) == KITTI_SIZE and info.width == KITTI_SIZE[1]
        assert len(scan.ranges) == KITTI_SIZE[1]
        assert float(rig.fresh_diagnostics()["depth_scale"]) == pytest.approx(1.0, rel=1e-3)
    finally:
        rig.h.node.destroy_subscription(scan_c.sub)
    assert "input changed: 1242x375" in rig.node.log() and "-> 640x480" in rig.node.log()


def test_burst_processes_latest_and_counts_drops(rig):
    start = rig.fresh_diagnostics()
    msg = rig.frame(0)
    stamps = []
    rig.info_pub.publish(rig.good_info())
    for _ in range(30):  # as fast as we can publish: far faster than inference
        msg.header.stamp = rig.next_stamp()
        stamps.append(msg.header.stamp)
        rig.image_pub.publish(msg)
    rig.h.spin_until(lambda: rig.depth.by_stamp(stamps[-1]), 60,
                     every=(5.0, lambda: rig.image_pub.publish(msg)),
                     what="depth of the last burst frame", alive=rig.node)
    done = [i for i, s in enumerate(stamps) if rig.depth.by_stamp(s)]
    assert done[-1] == 29 and len(done) < 30
    order = [stamps.index(m.header.stamp) for m in rig.depth.msgs if m.header.stamp in stamps]
    assert order == sorted(order)  # never an older frame after a newer one

    state = {}

    def settled():
        v = state["v"] = rig.fresh_diagnostics()
        total = sum(int(v[k]) for k in ("processed", "dropped", "bad_input", "errors"))
        return int(v["received"]) == total

    rig.h.spin_until(settled, 30, what="diagnostics counters to settle", alive=rig.node)
    v = state["v"]
    assert int(v["dropped"]) > int(start["dropped"])
    assert int(v["received"]) - int(start["received"]) >= len(done)
    assert float(v["latency_ms.inference"]) > 0 and "latency_ms.total" in v


# -- node B: compressed input, shipped YAML, remapping, clean SIGINT -------------------------
def test_compressed_input_with_shipped_yaml(harness, checkpoint, kitti, tmp_path):
    from diagnostic_msgs.msg import DiagnosticArray
    from PIL import Image as PILImage
    from sensor_msgs.msg import CompressedImage, Image

    shipped = (Path(os.environ["AMENT_PREFIX_PATH"].split(":")[0])
               / "share/depthnet_nano_ros/config/depthnet_nano.yaml")
    node = NodeProcess(tmp_path / "node_b.log", params_file=shipped, params={
        "model.checkpoint": checkpoint, "model.backend": "onnxruntime", "input.compressed": True,
        "model.input_height": INPUT_SIZE[0], "model.input_width": INPUT_SIZE[1],
        "model.cpu_threads": 2, "model.cpu_spin": False},  # over DEPTHNET_NANO_THREADS=1
        remaps={"__node": "depth_node_b", "image/compressed": "/cam/image_raw/compressed",
                "depth": "/cam/depth"})
    with node:
        pub = harness.node.create_publisher(CompressedImage, "/cam/image_raw/compressed", 5)
        depth = harness.collect(Image, "/cam/depth", RELIABLE)
        diag = harness.collect(DiagnosticArray, "/diagnostics", RELIABLE)
        try:
            harness.wait_matched([pub], [depth.sub], alive=node)
            bad = CompressedImage(format="png", data=b"\x89PNG broken")
            bad.header.stamp = harness.stamp(950)

            def rejected():
                values = [diagnostics_values(m, "depth_node_b") for m in diag.msgs[-3:]]
                return any(v and int(v["bad_input"]) > 0 for v in values)

            harness.spin_until(rejected, 30, every=(3.0, lambda: pub.publish(bad)),
                               what="the broken png on /diagnostics", alive=node)
            # A 186 kB PNG declaring 8000x8000 RGB pixels (192 MB decoded) is refused from its
            # header: bad_input with the limit named, no memory growth, no "frame failed".
            peak_before = _peak_rss_mb(node.proc.pid)
            bomb = CompressedImage(format="png", data=png_bomb(8000, 8000))
            bomb.header.stamp = harness.stamp(951)

            def bomb_rejected():
                values = [diagnostics_values(m, "depth_node_b") for m in diag.msgs[-3:]]
                return any(v and "8000x8000" in v["last_problem"] for v in values)

            harness.spin_until(bomb_rejected, 30, every=(3.0, lambda: pub.publish(bomb)),
                               what="the png bomb on /diagnostics", alive=node)
            assert _peak_rss_mb(node.proc.pid) - peak_before < 100
            for i, fmt in enumerate(["png", "rgb8; jpeg compressed bgr8"]):
                bio = io.BytesIO()
                PILImage.fromarray(kitti["rgb"][0]).save(bio, "PNG" if "png" in fmt else "JPEG")
                msg = CompressedImage(format=fmt, data=bio.getvalue())
                msg.header.frame_id, msg.header.stamp = FRAME, harness.stamp(900 + i)
                harness.spin_until(lambda m=msg: depth.by_stamp(m.header.stamp), 30,
                                   every=(3.0, lambda m=msg: pub.publish(m)),
                                   what=f"depth from {fmt}", alive=node)
                out = depth.by_stamp(msg.header.stamp)[0]
                assert (out.height, out.width, out.encoding) == (*KITTI_SIZE, "32FC1")
                assert out.header.frame_id == FRAME
            assert not depth.by_stamp(bad.header.stamp)
            n = len(diag.msgs)

            def fresh_b() -> list:
                return [v for v in (diagnostics_values(m, "depth_node_b") for m in diag.msgs[n:])
                        if v]

            harness.spin_until(lambda: len(fresh_b()) >= 2, 20, what="/diagnostics of node B")
            last = fresh_b()[-1]
            # Nobody subscribes depth/colored or points here: the node computes neither.
            assert int(last["processed"]) >= 2 and last["colored"] == last["points"] == "0"
            assert (last["backend"], last["cpu_threads"], last["cpu_spin"]) == (
                "onnxruntime", "2", "false")
        finally:
            harness.node.destroy_publisher(pub)
            harness.node.destroy_subscription(depth.sub)
            harness.node.destroy_subscription(diag.sub)
        assert node.stop() == 0, node.log()[-3000:]
    log = node.log()
    assert "Traceback" not in log and "could not be decoded" in log, log[-3000:]
    assert "above the limit" in log and "input.max_pixels" in log and "frame failed" not in log
    assert "onnxruntime backend on 2 CPU threads (sleeping workers, " in log, log[-3000:]


def _peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of a process, MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for {pid}")


def test_missing_checkpoint_exits_2_with_the_reason(tmp_path):
    with NodeProcess(tmp_path / "node.log", params={"model.checkpoint": tmp_path / "none.pt"}) as n:
        n.proc.wait(120)
        assert n.stop() == 2
    assert "none.pt does not exist" in n.log()


def test_bench_cloud_agrees_with_the_loop():
    from depthnet_nano_ros.ros.bench_node import bench_cloud

    depth = np.random.default_rng(3).uniform(0, 80, (30, 50)).astype(np.float32)
    depth[0, :5] = np.nan
    result = bench_cloud(depth, repeat=2)  # raises if the two clouds differ
    assert result["loop_ms"] > 0 and result["vectorized_ms"] > 0
