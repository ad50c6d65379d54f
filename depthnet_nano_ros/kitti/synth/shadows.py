"""Hard sun shadows on the road and sidewalks, cast by buildings, cars, walls, poles and trees."""

from __future__ import annotations

import numpy as np

from depthnet_nano_ros.kitti.synth.raycast import Culler, FrameGeometry
from depthnet_nano_ros.kitti.synth.scene import Material, Scene

RECEIVER_TOP_M = 0.2  #: receivers are horizontal surfaces up to this height (road, sidewalks)


def _box_blocks(p: np.ndarray, inv: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Does the ray p + s * sun (s > 0) pass through the AABB? (`inv` = 1 / sun)"""
    t_near = np.full(len(p), -np.inf)
    t_far = np.full(len(p), np.inf)
    for k in range(3):
        a, b = (lo[k] - p[:, k]) * inv[k], (hi[k] - p[:, k]) * inv[k]
        t_near = np.maximum(t_near, np.minimum(a, b))
        t_far = np.minimum(t_far, np.maximum(a, b))
    return t_far >= np.maximum(t_near, 0.0)


def _interval(q: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ray parameters where p + t s is inside the unit ball, for q = p - centre (scaled)."""
    a = float(s @ s)
    tc = -(q @ s) / a
    closest = q + tc[:, None] * s
    half = np.sqrt(np.clip(1.0 - np.einsum("ij,ij->i", closest, closest), 0.0, None) / a)
    inside = np.einsum("ij,ij->i", closest, closest) <= 1.0
    return np.where(inside, tc - half, np.inf), np.where(inside, tc + half, -np.inf)


def _cylinder_blocks(p: np.ndarray, sun: np.ndarray, cyl: np.ndarray) -> np.ndarray:
    """Does the ray p + s * sun (s > 0) pass through a vertical cylinder?"""
    cx, cy, r, z0, z1 = cyl
    q = (p[:, :2] - [cx, cy]) / r
    t0, t1 = _interval(q, sun[:2] / r)
    t0 = np.maximum(t0, 0.0)
    z_in, z_out = p[:, 2] + t0 * sun[2], p[:, 2] + t1 * sun[2]
    return (t1 >= t0) & (z_out >= z0) & (z_in <= z1)


def _ellipsoid_blocks(p: np.ndarray, sun: np.ndarray, ell: np.ndarray) -> np.ndarray:
    """Does the ray p + s * sun (s > 0) pass through an ellipsoid?"""
    t0, t1 = _interval((p - ell[:3]) / ell[3:], sun / ell[3:])
    return t1 >= np.maximum(t0, 0.0)


def _shadow_box(lo: np.ndarray, hi: np.ndarray, sun: np.ndarray,
                z_recv: tuple[float, float]) -> tuple[np.ndarray, np.ndarray] | None:
    """AABB (receiver heights) of the region an occluder AABB can shade."""
    dz0, dz1 = max(lo[2] - z_recv[1], 0.0), hi[2] - z_recv[0]
    if dz1 <= 0:
        return None
    shift = -sun[:2] / sun[2]
    xy = np.array([[lo[0], lo[1]], [hi[0], hi[1]]])
    ends = np.concatenate([xy + shift * dz0, xy + shift * dz1])
    return (np.array([*ends.min(axis=0), z_recv[0]], np.float32),
            np.array([*ends.max(axis=0), z_recv[1]], np.float32))


def sun_lit(scene: Scene, geom: FrameGeometry, p_rel: np.ndarray, pixel: np.ndarray,
            shape: tuple[int, int], cull: Culler) -> np.ndarray:
    """Which receiver points `p_rel` (relative to geom.origin, at `pixel`) see the sun."""
    sun = scene.sun.astype(np.float64)
    lit = np.ones(len(p_rel), dtype=bool)
    if sun[2] <= 0 or not len(p_rel):
        return lit
    grid = np.full(shape[0] * shape[1], -1, dtype=np.int64)
    grid[pixel] = np.arange(len(p_rel))
    grid = grid.reshape(shape)
    origin = p_rel.astype(np.float64) + [0.0, 0.0, 0.01]
    z_recv = (-geom.origin[2] - 0.01, -geom.origin[2] + RECEIVER_TOP_M)
    with np.errstate(divide="ignore"):
        inv = 1.0 / sun

    def receivers(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Unshadowed receivers that the occluder AABB can shade."""
        region = _shadow_box(lo, hi, sun, z_recv)
        if region is None:
            return np.zeros(0, dtype=np.int64)
        parts = [grid[rows, cols].ravel() for rows, cols in cull(*region)]
        sel = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        sel = sel[sel >= 0]
        return sel[lit[sel]]

    mats = scene.box_mat[geom.box_id - 1]
    for lo, hi, mat in zip(geom.box_lo, geom.box_hi, mats, strict=True):
        if mat == Material.SIDEWALK:
            continue
        sel = receivers(lo, hi)
        lit[sel[_box_blocks(origin[sel], inv, lo, hi)]] = False
    for cyl in geom.cyl:
        lo = np.array([cyl[0] - cyl[2], cyl[1] - cyl[2], cyl[3]])
        hi = np.array([cyl[0] + cyl[2], cyl[1] + cyl[2], cyl[4]])
        sel = receivers(lo, hi)
        lit[sel[_cylinder_blocks(origin[sel], sun, cyl.astype(np.float64))]] = False
    for ell in geom.ell:
        sel = receivers(ell[:3] - ell[3:], ell[:3] + ell[3:])
        lit[sel[_ellipsoid_blocks(origin[sel], sun, ell.astype(np.float64))]] = False
    return lit
