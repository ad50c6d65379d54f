"""Depth -> organized cloud against a per-point loop and image_geometry's conventions."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from depthnet_nano_ros.geometry.camera import CameraInfoError, intrinsics_from_camera_info
from depthnet_nano_ros.geometry.cloud import (
    XYZ_FIELDS,
    XYZRGB_FIELDS,
    CloudError,
    cloud_to_points,
    depth_to_cloud,
    pack_rgb,
)


def _kitti_p_rect_02(date_dir) -> list[float]:
    """P_rect_02 from calib_cam_to_cam.txt, parsed here independently of the package."""
    for line in (date_dir / "calib_cam_to_cam.txt").read_text().splitlines():
        if line.startswith("P_rect_02:"):
            return [float(x) for x in line.split(":", 1)[1].split()]
    raise AssertionError("P_rect_02 missing")


def _loop_cloud(depth, fx, fy, cx, cy, k, rgb=None) -> list[list[float]]:
    """Reference: build the cloud one pixel at a time (depth_image_proc's loop)."""
    rows = []
    for v in range(0, depth.shape[0], k):
        for u in range(0, depth.shape[1], k):
            d = float(depth[v, u])
            if not (math.isfinite(d) and d > 0):
                x = y = z = math.nan
            else:
                x, y, z = (u - cx) * d / fx, (v - cy) * d / fy, d
            point = [x, y, z]
            if rgb is not None:
                r, g, b = (int(c) for c in rgb[v, u])
                point.append(np.array([(r << 16) | (g << 8) | b], np.uint32).view(np.float32)[0])
            rows.append(point)
    return rows


@pytest.fixture(scope="module")
def kitti_depth(kitti_date_dir):
    """A KITTI-sized depth map with invalid pixels, and the real camera-2 intrinsics."""
    p = _kitti_p_rect_02(kitti_date_dir)
    intr = intrinsics_from_camera_info(p, 1242, 375, image_size=(375, 1242))
    rng = np.random.default_rng(1)
    depth = rng.uniform(1, 80, (375, 1242)).astype(np.float32)
    depth[:40] = np.nan  # "sky"
    depth[100, 7] = 0.0
    depth[101, 9] = np.inf
    depth[102, 11] = -3.0
    return depth, intr, p


def test_intrinsics_come_from_p(kitti_depth):
    _, intr, p = kitti_depth
    assert (intr.fx, intr.fy, intr.cx, intr.cy) == (p[0], p[5], p[2], p[6])
    assert intr.fx != p[3]  # P[0,3] = -fx * baseline is not used for the cloud


@pytest.mark.parametrize("k", [1, 4, 5])
def test_matches_per_point_loop(kitti_depth, k):
    depth, intr, _ = kitti_depth
    sub = depth[:60, :200] if k == 1 else depth  # keep the python loop short
    cloud = depth_to_cloud(sub, intr.fx, intr.fy, intr.cx, intr.cy, decimation=k)
    h, w = -(-sub.shape[0] // k), -(-sub.shape[1] // k)
    assert (cloud.height, cloud.width, cloud.point_step, cloud.row_step) == (h, w, 12, 12 * w)
    assert cloud.fields == XYZ_FIELDS
    got = np.frombuffer(cloud.data, "<f4").reshape(h * w, 3)
    ref = np.array(_loop_cloud(sub, intr.fx, intr.fy, intr.cx, intr.cy, k), dtype=np.float32)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5, equal_nan=True)


def test_invalid_pixels_are_nan_points(kitti_depth):
    depth, intr, _ = kitti_depth
    cloud = depth_to_cloud(depth, intr.fx, intr.fy, intr.cx, intr.cy)
    pts = cloud_to_points(cloud.data, cloud.height, cloud.width, cloud.point_step,
                          {f.name: f.offset for f in cloud.fields})
    for v, u in [(0, 0), (39, 1000), (100, 7), (101, 9), (102, 11)]:
        assert all(math.isnan(pts[c][v, u]) for c in "xyz")
    assert np.isfinite(pts["z"][40:]).sum() == (375 - 40) * 1242 - 3


def test_color_cloud_packs_rgb(kitti_depth):
    depth, intr, _ = kitti_depth
    rgb = np.random.default_rng(2).integers(0, 256, depth.shape + (3,), dtype=np.uint8)
    cloud = depth_to_cloud(depth[:50, :80], intr.fx, intr.fy, intr.cx, intr.cy, decimation=2,
                           rgb=rgb[:50, :80])
    assert cloud.fields == XYZRGB_FIELDS and cloud.point_step == 16
    got = np.frombuffer(cloud.data, "<f4").reshape(-1, 4)
    ref = np.array(_loop_cloud(depth[:50, :80], intr.fx, intr.fy, intr.cx, intr.cy, 2,
                               rgb[:50, :80]), np.float32)
    np.testing.assert_allclose(got[:, :3], ref[:, :3], rtol=1e-5, equal_nan=True)
    np.testing.assert_array_equal(got[:, 3].view(np.uint32), ref[:, 3].view(np.uint32))
    assert pack_rgb(np.array([[[1, 2, 3]]], np.uint8)).view(np.uint32)[0, 0] == 0x010203


def test_cloud_errors():
    d = np.ones((4, 4), np.float32)
    with pytest.raises(CloudError, match="decimation"):
        depth_to_cloud(d, 1, 1, 0, 0, decimation=0)
    with pytest.raises(CloudError, match="HxW"):
        depth_to_cloud(np.ones((4, 4, 1), np.float32), 1, 1, 0, 0)
    with pytest.raises(CloudError, match="differ in size"):
        depth_to_cloud(d, 1, 1, 0, 0, rgb=np.zeros((3, 4, 3), np.uint8))


def test_camera_info_validation():
    p = [700.0, 0, 600, 0, 0, 700, 180, 0, 0, 0, 1, 0]
    with pytest.raises(CameraInfoError, match="zero focal length"):
        intrinsics_from_camera_info([0.0] * 12, 1242, 375)
    with pytest.raises(CameraInfoError, match="differs from the image size"):
        intrinsics_from_camera_info(p, 640, 480, image_size=(375, 1242))
    with pytest.raises(CameraInfoError, match="non-finite"):
        intrinsics_from_camera_info([math.nan] + p[1:], 1242, 375)
    with pytest.raises(CameraInfoError, match="12"):
        intrinsics_from_camera_info(p[:9], 1242, 375)


@pytest.mark.parametrize(("index", "value", "words"), [
    (0, 1e-38, "implausible focal length fx=1e-38"), (0, 1e39, "fx=1e+39"),
    (0, 1e-5, "fx=1e-05"), (5, 20.0, "fy=20"), (0, -700.0, "negative focal length"),
    (5, -700.0, "negative focal length"), (2, 3.4e38, "principal point cx=3.4e+38"),
    (6, -400.0, "cy=-400")])
def test_implausible_intrinsics_are_refused_with_the_value(index, value, words):
    p = [700.0, 0, 600, 0, 0, 700, 180, 0, 0, 0, 1, 0]
    p[index] = value
    with pytest.raises(CameraInfoError, match=re.escape(words)):
        intrinsics_from_camera_info(p, 1242, 375, image_size=(375, 1242))


def test_plausible_range_edges_are_accepted():
    # 0.05 x and 100 x the larger side; principal point one image outside
    for fx, cx in ((0.05 * 1242, -1242.0), (100 * 1242, 2 * 1242.0)):
        k = intrinsics_from_camera_info([fx, 0, cx, 0, 0, 700, 180, 0, 0, 0, 1, 0], 1242, 375)
        assert (k.fx, k.cx) == (fx, cx)
