"""Vectorized ray casting of the analytic scene: one numpy pass per primitive over the rays that
can see it (a rectangle of the sensor's ray grid), z-buffered by the nearest hit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from depthnet_nano_ros.kitti.synth.scene import Scene

#: maps an AABB (lo, hi), relative to the sensor origin, to the (rows, cols) slices to test
Culler = Callable[[np.ndarray, np.ndarray], list[tuple[slice, slice]]]

EPS = 1e-4  #: hits closer than this to the origin are ignored


@dataclass
class FrameGeometry:
    """The primitives near one sensor position at one instant, relative to that origin."""

    origin: np.ndarray     #: (3,) sensor position in the world (float64)
    box_lo: np.ndarray     #: (B, 3) relative to origin
    box_hi: np.ndarray
    box_id: np.ndarray     #: (B,) primitive ids
    cyl: np.ndarray        #: (C, 5) cx, cy relative; r; z0, z1 relative
    cyl_id: np.ndarray
    ell: np.ndarray        #: (E, 6) centre relative; radii
    ell_id: np.ndarray


def frame_geometry(scene: Scene, origin: np.ndarray, time_s: float,
                   x_behind: float, x_ahead: float) -> FrameGeometry:
    """Primitives whose x-extent overlaps [origin.x - x_behind, origin.x + x_ahead] at `time_s`."""
    origin = np.asarray(origin, dtype=np.float64)
    b0, c0, e0 = scene.prim_offsets()
    shift = np.zeros_like(scene.box_lo)
    shift[:, 0] = scene.box_vx * time_s
    lo, hi = scene.box_lo + shift, scene.box_hi + shift
    x0, x1 = origin[0] - x_behind, origin[0] + x_ahead
    keep = (hi[:, 0] > x0) & (lo[:, 0] < x1)
    cyl = scene.cyl
    keep_c = (cyl[:, 0] + cyl[:, 2] > x0) & (cyl[:, 0] - cyl[:, 2] < x1)
    ell = scene.ell
    keep_e = (ell[:, 0] + ell[:, 3] > x0) & (ell[:, 0] - ell[:, 3] < x1)
    cyl_rel = cyl[keep_c].copy()
    cyl_rel[:, :2] -= origin[:2]
    cyl_rel[:, 3:] -= origin[2]
    ell_rel = ell[keep_e].copy()
    ell_rel[:, :3] -= origin
    f32 = np.float32
    return FrameGeometry(
        origin=origin, box_lo=(lo[keep] - origin).astype(f32),
        box_hi=(hi[keep] - origin).astype(f32), box_id=b0 + np.flatnonzero(keep),
        cyl=cyl_rel.astype(f32), cyl_id=c0 + np.flatnonzero(keep_c),
        ell=ell_rel.astype(f32), ell_id=e0 + np.flatnonzero(keep_e))


def _box(inv: tuple[np.ndarray, ...], lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Entry distance of rays (origin 0) into an AABB; inf where missed."""
    t_near = t_far = None
    for k in range(3):
        a, b = lo[k] * inv[k], hi[k] * inv[k]
        n, f = np.minimum(a, b), np.maximum(a, b)
        t_near = n if t_near is None else np.maximum(t_near, n)
        t_far = f if t_far is None else np.minimum(t_far, f)
    return np.where((t_near <= t_far) & (t_near > EPS), t_near, np.inf)


def _cylinder(d: tuple[np.ndarray, ...], cyl: np.ndarray) -> np.ndarray:
    """Entry distance into a vertical cylinder's side (caps are never seen from below).

    Solved about the ray's closest approach to the axis, which avoids the float32
    cancellation of the textbook quadratic for distant, thin cylinders.
    """
    cx, cy, r, z0, z1 = cyl
    a = d[0] * d[0] + d[1] * d[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        tc = (d[0] * cx + d[1] * cy) / a
        qx, qy = cx - tc * d[0], cy - tc * d[1]
        disc = r * r - (qx * qx + qy * qy)
        t = tc - np.sqrt(disc / a)
    z = t * d[2]
    ok = (disc >= 0) & (t > EPS) & (z >= z0) & (z <= z1)
    return np.where(ok, t, np.inf)


def _ellipsoid(d: tuple[np.ndarray, ...], ell: np.ndarray) -> np.ndarray:
    """Entry distance into an axis-aligned ellipsoid (closest-approach form, as above)."""
    oc = ell[:3] / ell[3:]
    s = [d[k] / ell[3 + k] for k in range(3)]
    a = s[0] * s[0] + s[1] * s[1] + s[2] * s[2]
    tc = (s[0] * oc[0] + s[1] * oc[1] + s[2] * oc[2]) / a
    q = [oc[k] - tc * s[k] for k in range(3)]
    disc = 1.0 - (q[0] * q[0] + q[1] * q[1] + q[2] * q[2])
    with np.errstate(invalid="ignore"):
        t = tc - np.sqrt(disc / a)
    return np.where((disc >= 0) & (t > EPS), t, np.inf)


def cast(geom: FrameGeometry, dirs: tuple[np.ndarray, ...], inv: tuple[np.ndarray, ...],
         cull: Culler, t_max: float) -> tuple[np.ndarray, np.ndarray]:
    """Nearest hit distance (inf = none within t_max) and primitive id (-1) per ray of a grid.

    `dirs` and `inv` are the x, y, z components (and reciprocals) of the ray directions, each an
    R x C array; distances are in units of the direction vectors.
    """
    shape = dirs[0].shape
    with np.errstate(divide="ignore"):
        t_ground = np.where(dirs[2] < 0, np.float32(-geom.origin[2]) / dirs[2], np.inf)
    prim = np.where(np.isfinite(t_ground) & (t_ground <= t_max), 0, -1).astype(np.int32)
    t_best = np.where(prim == 0, t_ground, t_max).astype(np.float32)  # farther hits ignored

    def update(t: np.ndarray, rows: slice, cols: slice, pid: int) -> None:
        """Keep the nearer of the current and new hits in a window."""
        view_t, view_p = t_best[rows, cols], prim[rows, cols]
        closer = t < view_t
        np.copyto(view_t, t, where=closer)
        np.copyto(view_p, pid, where=closer)

    def sub(arrs: tuple[np.ndarray, ...], rows: slice, cols: slice) -> tuple[np.ndarray, ...]:
        """The window (rows, cols) of each component."""
        return tuple(a[rows, cols] for a in arrs)

    for lo, hi, pid in zip(geom.box_lo, geom.box_hi, geom.box_id, strict=True):
        for rows, cols in cull(lo, hi):
            update(_box(sub(inv, rows, cols), lo, hi), rows, cols, pid)
    for cyl, pid in zip(geom.cyl, geom.cyl_id, strict=True):
        lo = np.array([cyl[0] - cyl[2], cyl[1] - cyl[2], cyl[3]], np.float32)
        hi = np.array([cyl[0] + cyl[2], cyl[1] + cyl[2], cyl[4]], np.float32)
        for rows, cols in cull(lo, hi):
            update(_cylinder(sub(dirs, rows, cols), cyl), rows, cols, pid)
    for ell, pid in zip(geom.ell, geom.ell_id, strict=True):
        for rows, cols in cull(ell[:3] - ell[3:], ell[:3] + ell[3:]):
            update(_ellipsoid(sub(dirs, rows, cols), ell), rows, cols, pid)
    t_best[prim < 0] = np.inf
    assert t_best.shape == shape
    return t_best, prim


def surface_normals(scene: Scene, geom: FrameGeometry, prim: np.ndarray,
                    p_rel: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit normals (N, 3), face index (N,) and box index into `geom` (N,; -1 if not a box) at
    hit points `p_rel` (relative to the origin).

    Faces: boxes 0..5 = -x, +x, -y, +y, -z, +z; every other primitive has face 0.
    """
    p_rel = p_rel.astype(np.float32, copy=False)
    n = np.zeros_like(p_rel)
    n[:, 2] = 1.0
    face = np.zeros(len(prim), dtype=np.int32)
    lut = np.full(scene.n_prims, -1, dtype=np.int64)
    lut[geom.box_id] = np.arange(len(geom.box_id))
    box_k = lut[prim]
    is_box = np.flatnonzero(box_k >= 0)
    if len(is_box):
        k, p = box_k[is_box], p_rel[is_box]
        d_lo, d_hi = np.abs(p - geom.box_lo[k]), np.abs(p - geom.box_hi[k])
        axis = np.argmin(np.minimum(d_lo, d_hi), axis=1)
        rows = np.arange(len(p))
        upper = d_hi[rows, axis] < d_lo[rows, axis]
        face[is_box] = axis * 2 + upper
        n[is_box, 2] = 0.0
        n[is_box, axis] = np.where(upper, 1.0, -1.0)
    _, c0, e0 = scene.prim_offsets()
    is_cyl = (prim >= c0) & (prim < e0)
    if is_cyl.any():
        lut[geom.cyl_id] = np.arange(len(geom.cyl_id))
        cyl = geom.cyl[lut[prim[is_cyl]]]
        radial = p_rel[is_cyl, :2] - cyl[:, :2]
        n[is_cyl, :2] = radial / cyl[:, 2:3]
        n[is_cyl, 2] = 0.0
    is_ell = prim >= e0
    if is_ell.any():
        lut[geom.ell_id] = np.arange(len(geom.ell_id))
        ell = geom.ell[lut[prim[is_ell]]]
        g = (p_rel[is_ell] - ell[:, :3]) / ell[:, 3:] ** 2
        n[is_ell] = g / np.linalg.norm(g, axis=1, keepdims=True)
    return n, face, box_k
