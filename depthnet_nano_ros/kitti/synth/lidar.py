"""Simulated Velodyne HDL-64E: 64 beams from +2.0 to -24.8 degrees, 4000 azimuth steps."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from depthnet_nano_ros.kitti.synth.raycast import FrameGeometry, cast
from depthnet_nano_ros.kitti.synth.render import hit_attributes
from depthnet_nano_ros.kitti.synth.scene import PrimTables, Scene
from depthnet_nano_ros.kitti.synth.textures import reflectance

#: beam elevations (degrees, top first): the HDL-64E's upper block of 32 lasers 1/3 degree
#: apart (+2.0 .. -8.33) and its lower block of 32 spread down to -24.8
ELEVATIONS_DEG = np.concatenate([np.linspace(2.0, -8.33, 32), np.linspace(-8.83, -24.8, 32)])
AZIMUTH_STEPS = 4000  #: per revolution: 0.09 degrees
MAX_RANGE_M = 120.0


@dataclass
class LidarScan:
    """One revolution in the Velodyne frame (x forward, y left, z up)."""

    points: np.ndarray   #: (N, 4) float32 x, y, z, reflectance (ring by ring, azimuth order)
    surface: np.ndarray  #: (N,) int32 primitive id * 8 + face of each return


class Velodyne:
    """Ray grid of the sensor (rows = beams, columns = azimuths) and its scan."""

    def __init__(self, azimuth_steps: int = AZIMUTH_STEPS, max_range: float = MAX_RANGE_M):
        self.max_range = max_range
        self.elevation = np.deg2rad(ELEVATIONS_DEG)
        self.step = 2 * np.pi / azimuth_steps
        self.n_az = azimuth_steps
        az = -np.pi + (np.arange(azimuth_steps) + 0.5) * self.step
        el = self.elevation[:, None]
        dirs = (np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el) + 0 * az)
        self.dirs = tuple(np.ascontiguousarray(d, dtype=np.float32) for d in dirs)
        with np.errstate(divide="ignore"):
            self.inv = tuple(np.float32(1.0) / d for d in self.dirs)
        self._neg_el = -self.elevation  # ascending, for searchsorted

    def cull(self, lo: np.ndarray, hi: np.ndarray) -> list[tuple[slice, slice]]:
        """Beam and azimuth ranges that can hit an AABB (relative to the sensor)."""
        dx, dy = max(lo[0], -hi[0], 0.0), max(lo[1], -hi[1], 0.0)
        near = float(np.hypot(dx, dy))
        if near > self.max_range:
            return []
        xs, ys = np.array([lo[0], hi[0]]), np.array([lo[1], hi[1]])
        far = float(np.sqrt((np.abs(xs).max()) ** 2 + (np.abs(ys).max()) ** 2))
        top = np.arctan2(hi[2], near if hi[2] >= 0 else far)
        bottom = np.arctan2(lo[2], far if lo[2] >= 0 else near)
        r0 = int(np.searchsorted(self._neg_el, -top - 1e-6, side="left"))
        r1 = int(np.searchsorted(self._neg_el, -bottom + 1e-6, side="right"))
        if r0 >= r1:
            return []
        rows = slice(r0, r1)
        if near == 0.0:
            return [(rows, slice(0, self.n_az))]
        cx, cy = np.meshgrid(xs, ys)
        ref = np.arctan2((lo[1] + hi[1]) / 2, (lo[0] + hi[0]) / 2)
        diff = np.angle(np.exp(1j * (np.arctan2(cy, cx) - ref)))
        j0 = int(np.floor((ref + diff.min() + np.pi) / self.step - 0.5)) - 1
        j1 = int(np.ceil((ref + diff.max() + np.pi) / self.step - 0.5)) + 2
        if j1 - j0 >= self.n_az:
            return [(rows, slice(0, self.n_az))]
        a, b = j0 % self.n_az, j1 % self.n_az
        if a < b:
            return [(rows, slice(a, b))]
        return [(rows, slice(a, self.n_az)), (rows, slice(0, b))]

    def scan(self, scene: Scene, tables: PrimTables, geom: FrameGeometry,
             tile: np.ndarray) -> LidarScan:
        """Ray-cast one instantaneous revolution; `geom` must be relative to the sensor."""
        t, prim = cast(geom, self.dirs, self.inv, self.cull, self.max_range)
        idx = np.flatnonzero(prim >= 0)
        pr, tt = prim.ravel()[idx], t.ravel()[idx]
        xyz = np.column_stack([tt * d.ravel()[idx] for d in self.dirs])
        hits, _ = hit_attributes(scene, tables, geom, pr, xyz, tt, full=False)
        refl = reflectance(tile, scene.road, hits)
        points = np.column_stack([xyz, refl]).astype(np.float32)
        return LidarScan(points, (pr * 8 + hits.face).astype(np.int32))
