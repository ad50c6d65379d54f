"""Lidar points -> sparse depth image in a pinhole camera (the KITTI ground-truth projection).

Conventions (see docs/kitti.md): depth is the camera z of each point; points with z <= 0 are
dropped; a point lands on the pixel nearest to its projection (u, v rounded half up, pixel
centres at integer coordinates); points outside the image are dropped; when several points share
a pixel the nearest one wins. Pixels are indexed as ``v * W + u`` only after the bounds check,
so the last column of one row can never be confused with the first column of the next (the
``sub2ind`` collision of monodepth2's ``generate_depth_map``).
"""

from __future__ import annotations

import numpy as np

from depthnet_nano_ros.errors import DepthNetNanoError

__all__ = ["DEPTH_MODES", "ProjectionError", "project_points", "project_to_depth"]

#: "camera_z" (default, correct) or "lidar_x" (Eigen-compatible: depth = the point's lidar x,
#: as monodepth2's export_gt_depth.py does; for comparisons with published numbers only)
DEPTH_MODES = ("camera_z", "lidar_x")


class ProjectionError(DepthNetNanoError):
    """Bad input to the lidar projection (shapes, image size, mode)."""


def _check(points: np.ndarray, T: np.ndarray, K: np.ndarray,
           image_size: tuple[int, int], depth_mode: str) -> tuple[int, int]:
    if points.ndim != 2 or points.shape[1] < 3:
        raise ProjectionError(f"points must be Nx3 or Nx4 (x, y, z[, intensity]), got shape "
                              f"{points.shape}")
    if T.shape != (4, 4):
        raise ProjectionError(f"T_cam_lidar must be 4x4, got shape {T.shape}")
    if K.shape != (3, 3):
        raise ProjectionError(f"K must be 3x3, got shape {K.shape} (use P_rect[:, :3])")
    if depth_mode not in DEPTH_MODES:
        raise ProjectionError(f"depth_mode {depth_mode!r} is unknown; use one of {DEPTH_MODES}")
    if len(image_size) != 2 or min(int(image_size[0]), int(image_size[1])) <= 0:
        raise ProjectionError(f"image_size must be (height, width) > 0, got {image_size}")
    return int(image_size[0]), int(image_size[1])


def project_points(points: np.ndarray, T_cam_lidar: np.ndarray, K: np.ndarray,
                   image_size: tuple[int, int], depth_mode: str = "camera_z",
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(u, v, depth) of the points that land inside the image: int64 pixels, float32 depth."""
    points = np.asarray(points)
    T = np.asarray(T_cam_lidar, dtype=np.float64)
    K = np.asarray(K, dtype=np.float64)
    H, W = _check(points, T, K, image_size, depth_mode)
    # Row-by-row arithmetic on contiguous columns: ~10x faster than a (N,3)@(3,3) BLAS call.
    x, y, z0 = (np.ascontiguousarray(points[:, j], dtype=np.float64) for j in range(3))
    cx, cy, cz = (T[r, 0] * x + T[r, 1] * y + T[r, 2] * z0 + T[r, 3] for r in range(3))
    keep = cz > 0
    if depth_mode == "lidar_x":
        keep &= x > 0
    cx, cy, cz = cx[keep], cy[keep], cz[keep]
    with np.errstate(divide="ignore", invalid="ignore"):
        w = K[2, 0] * cx + K[2, 1] * cy + K[2, 2] * cz
        u = np.floor((K[0, 0] * cx + K[0, 1] * cy + K[0, 2] * cz) / w + 0.5)
        v = np.floor((K[1, 0] * cx + K[1, 1] * cy + K[1, 2] * cz) / w + 0.5)
    inside = (u >= 0) & (u < W) & (v >= 0) & (v < H) & (w > 0)  # also drops NaN / inf
    depth = (x[keep] if depth_mode == "lidar_x" else cz)[inside]
    return u[inside].astype(np.int64), v[inside].astype(np.int64), depth.astype(np.float32)


def project_to_depth(points: np.ndarray, T_cam_lidar: np.ndarray, K: np.ndarray,
                     image_size: tuple[int, int], depth_mode: str = "camera_z") -> np.ndarray:
    """HxW float32 sparse depth (0 = no point) of lidar `points` seen by camera (T, K)."""
    u, v, depth = project_points(points, T_cam_lidar, K, image_size, depth_mode)
    H, W = int(image_size[0]), int(image_size[1])
    out = np.zeros(H * W, dtype=np.float32)
    if depth.size:
        flat = v * W + u                       # safe: 0 <= u < W and 0 <= v < H
        order = np.lexsort((depth, flat))      # by pixel, then nearest first
        flat, depth = flat[order], depth[order]
        first = np.empty(flat.size, dtype=bool)
        first[0] = True
        np.not_equal(flat[1:], flat[:-1], out=first[1:])
        out[flat[first]] = depth[first]
    return out.reshape(H, W)
