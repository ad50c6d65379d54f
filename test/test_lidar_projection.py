"""Lidar -> sparse depth: real KITTI frames, nearest wins, no sub2ind collision, bounds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from depthnet_nano_ros.geometry.lidar_projection import (
    ProjectionError,
    project_points,
    project_to_depth,
)
from depthnet_nano_ros.kitti import ObjectDataset, RawDrive, frame_sparse_depth, sparse_depth

K = np.array([[100.0, 0.0, 50.0], [0.0, 100.0, 40.0], [0.0, 0.0, 1.0]])
W, H = 100, 80
I4 = np.eye(4)


def cam_point(u: float, v: float, z: float) -> list[float]:
    """Camera-frame point that projects to pixel (u, v) at depth z (with K above, T = I)."""
    return [(u - K[0, 2]) * z / K[0, 0], (v - K[1, 2]) * z / K[1, 1], z]


@pytest.fixture(scope="module")
def drive(kitti_date_dir: Path) -> RawDrive:
    return RawDrive(kitti_date_dir, "0005")


def _reference_depth(points: np.ndarray, P: np.ndarray, size: tuple[int, int]) -> dict:
    """Straightforward per-point reference: pixel -> min depth, via the 3x4 matrix P."""
    X = np.c_[points[:, :3].astype(np.float64), np.ones(len(points))]
    q = X @ P.T
    ref: dict[tuple[int, int], float] = {}
    for (a, b, z) in q[q[:, 2] > 0]:
        u, v = int(np.floor(a / z + 0.5)), int(np.floor(b / z + 0.5))
        if 0 <= u < size[1] and 0 <= v < size[0]:
            ref[(v, u)] = min(ref.get((v, u), np.inf), z)
    return ref


@pytest.mark.parametrize("frame", range(10))
def test_kitti_sample_ground_truth(drive: RawDrive, frame: int) -> None:
    points = drive.load_velodyne(frame)
    depth = sparse_depth(drive, points)             # size from S_rect_02
    assert depth.shape == (375, 1242) and depth.dtype == np.float32
    valid = depth > 0
    assert 19_000 <= valid.sum() <= 22_000          # README: ~20,500 points land in image_02
    ranges = np.linalg.norm(points[:, :3], axis=1)
    assert depth[valid].min() > 0 and depth[valid].max() <= ranges.max() + 0.5
    u, v, _ = project_points(points, drive.calib.T_cam_velo(2), drive.calib.K(2), (375, 1242))
    assert u.min() >= 0 and u.max() < 1242 and v.min() >= 0 and v.max() < 375
    if frame == 0:  # every pixel and its nearest depth equal a per-point reference via P_rect
        ref = _reference_depth(points, drive.calib.projection(2), (375, 1242))
        vs, us = np.nonzero(valid)
        assert set(zip(vs.tolist(), us.tolist(), strict=True)) == set(ref)
        got = np.array([depth[k] for k in ref])
        np.testing.assert_allclose(got, np.array(list(ref.values())), rtol=1e-6)


@pytest.mark.parametrize("order", [1, -1])
def test_nearest_point_wins(order: int) -> None:
    pts = np.array([cam_point(10, 20, 10.0), cam_point(10, 20, 5.0), cam_point(10, 20, 7.0)])
    depth = project_to_depth(pts[::order], I4, K, (H, W))
    assert depth[20, 10] == np.float32(5.0)
    assert np.count_nonzero(depth) == 1


def test_no_row_wrap_collision() -> None:
    # monodepth2's sub2ind (row * (W-1) + col - 1) merges these two pixels into one
    far_last_col = cam_point(W - 1, 0, 30.0)
    near_first_col = cam_point(0, 1, 3.0)
    depth = project_to_depth(np.array([far_last_col, near_first_col]), I4, K, (H, W))
    assert depth[0, W - 1] == np.float32(30.0) and depth[1, 0] == np.float32(3.0)
    # a point on every pixel, distinct depths: reproduced exactly
    vv, uu = np.mgrid[0:H, 0:W]
    z = 1.0 + (vv * W + uu) / 100.0
    pts = np.stack([(uu - 50.0) * z / 100.0, (vv - 40.0) * z / 100.0, z], axis=-1).reshape(-1, 3)
    np.testing.assert_allclose(project_to_depth(pts, I4, K, (H, W)), z, rtol=1e-6)


def test_bounds_rounding_and_invalid_points() -> None:
    pts = np.array([
        cam_point(2.49, 3.0, 4.0),      # -> u 2
        cam_point(5.5, 3.0, 4.0),       # half rounds up -> u 6
        cam_point(-0.6, 3.0, 4.0),      # left of the image
        cam_point(W - 0.5, 3.0, 4.0),   # rounds to W: outside
        cam_point(7.0, H - 0.51, 4.0),  # last row
        [0.0, 0.0, -2.0],               # behind the camera
        [0.0, 0.0, 0.0],
        [np.nan, 0.0, 4.0],
    ])
    depth = project_to_depth(pts, I4, K, (H, W))
    assert sorted(zip(*np.nonzero(depth), strict=True)) == [(3, 2), (3, 6), (H - 1, 7)]
    assert project_to_depth(np.zeros((0, 4)), I4, K, (H, W)).sum() == 0


def test_transform_and_lidar_x_mode() -> None:
    # a "lidar" with x forward: camera z = lidar x, camera x = -lidar y, camera y = -lidar z
    T = np.array([[0, -1, 0, 0], [0, 0, -1, 0], [1, 0, 0, 0.5], [0, 0, 0, 1.0]])
    pts = np.array([[9.5, 0.0, 0.0, 0.3]], dtype=np.float32)
    cam_z = project_to_depth(pts, T, K, (H, W))
    assert cam_z[40, 50] == np.float32(10.0)
    lidar_x = project_to_depth(pts, T, K, (H, W), depth_mode="lidar_x")
    assert lidar_x[40, 50] == np.float32(9.5)


def test_bad_inputs() -> None:
    with pytest.raises(ProjectionError, match="Nx3"):
        project_to_depth(np.zeros((5, 2)), I4, K, (H, W))
    with pytest.raises(ProjectionError, match="4x4"):
        project_to_depth(np.zeros((5, 3)), np.eye(3), K, (H, W))
    with pytest.raises(ProjectionError, match="depth_mode"):
        project_to_depth(np.zeros((5, 3)), I4, K, (H, W), depth_mode="range")
    with pytest.raises(ProjectionError, match="image_size"):
        project_to_depth(np.zeros((5, 3)), I4, K, (0, W))


def test_object_frames_project(kitti_object_dir: Path) -> None:
    ds = ObjectDataset(kitti_object_dir)
    depth = frame_sparse_depth(ds, 6)               # 2011_09_29: 1238x374
    assert depth.shape == (374, 1238)
    assert 17_000 <= np.count_nonzero(depth) <= 21_000  # README: 19,473 points in image_2
    depth5 = frame_sparse_depth(ds, 5)
    assert depth5.shape == (375, 1242) and 17_000 <= np.count_nonzero(depth5) <= 21_000
