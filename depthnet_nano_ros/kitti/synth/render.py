"""Camera-2 renderer: one ray per pixel centre, exact camera-z depth, shaded procedural colour."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from depthnet_nano_ros.kitti.synth.camera import SynthCamera
from depthnet_nano_ros.kitti.synth.raycast import FrameGeometry, cast, surface_normals
from depthnet_nano_ros.kitti.synth.scene import Material, PrimTables, Scene
from depthnet_nano_ros.kitti.synth.shadows import sun_lit
from depthnet_nano_ros.kitti.synth.textures import Hits, albedo, lookup, noise_tile

NEAR = 0.05  #: metres; AABBs reaching closer than this to the camera plane are not culled
_CORNERS = np.array([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)], np.float64)


@dataclass
class CameraFrame:
    """One rendered image with its exact geometry."""

    rgb: np.ndarray        #: HxWx3 uint8
    depth: np.ndarray      #: HxW float32 camera z in metres; 0 where no surface (sky)
    surface: np.ndarray    #: HxW int32 primitive id * 8 + face; -1 for sky


def hit_attributes(scene: Scene, tables: PrimTables, geom: FrameGeometry, prim: np.ndarray,
                   p_rel: np.ndarray, dist: np.ndarray,
                   full: bool = True) -> tuple[Hits, np.ndarray]:
    """Texture inputs and unit normals of hits `p_rel` (relative to geom.origin) on `prim`.

    With ``full=False`` only what lidar reflectance needs is filled (mat, face, pw, prim, dist).
    """
    normal, face, box_k = surface_normals(scene, geom, prim, p_rel)
    origin = geom.origin.astype(np.float32)
    n = len(prim) if full else 0
    lo, hi = np.zeros((n, 3), np.float32), np.zeros((n, 3), np.float32)
    color, pattern = tables.color[prim[:n]], tables.pattern[prim[:n]]
    if full:
        is_box = np.flatnonzero(box_k >= 0)
        lo[is_box] = geom.box_lo[box_k[is_box]] + origin
        hi[is_box] = geom.box_hi[box_k[is_box]] + origin
    hits = Hits(mat=tables.material[prim], face=face, pw=p_rel + origin, color=color,
                pattern=pattern, lo=lo, hi=hi, prim=prim, dist=dist)
    return hits, normal


class Renderer:
    """Renders camera 2 of :class:`SynthCamera` at a Velodyne position in a :class:`Scene`."""

    def __init__(self, camera: SynthCamera, seed: int) -> None:
        self.camera = camera
        self.height, self.width = camera.size
        origin, dirs = camera.pixel_rays()
        self.offset = origin  #: camera centre relative to the Velodyne (velodyne axes = world)
        self.dirs = tuple(np.ascontiguousarray(dirs[..., k], dtype=np.float32) for k in range(3))
        with np.errstate(divide="ignore"):
            self.inv = tuple(np.float32(1.0) / d for d in self.dirs)
        self.norm = np.sqrt(sum(d.astype(np.float64) ** 2 for d in self.dirs)).astype(np.float32)
        self.A = camera.T_cam_velo[:3, :3]
        self.tile = noise_tile(seed)
        rng = np.random.default_rng(seed + 1)
        self.grain = rng.normal(0, 1.2, (self.height * 2, self.width * 2, 3)).astype(np.float32)
        v, u = np.mgrid[0:self.height, 0:self.width]
        r2 = ((u - self.width / 2) / self.width) ** 2 + ((v - self.height / 2) / self.width) ** 2
        self.vignette = (1.0 - 0.35 * r2).astype(np.float32)[..., None]
        self._sky_weights: tuple[np.ndarray, np.ndarray] | None = None
        self._sky_key: tuple[float, ...] | None = None
        self._sky_image = np.zeros(0, np.float32)

    def _bbox(self, lo: np.ndarray, hi: np.ndarray) -> tuple[float, ...] | None | bool:
        """(u_min, u_max, v_min, v_max) of an AABB relative to the camera centre; None when it
        is behind the camera, True when it crosses the camera plane (no culling possible)."""
        lo = np.asarray(lo, np.float64)
        corners = (lo + (np.asarray(hi, np.float64) - lo) * _CORNERS) @ self.A.T
        z = corners[:, 2]
        if (z < NEAR).all():
            return None
        if (z < NEAR).any():
            return True
        uv = corners @ self.camera.K.T
        u, v = uv[:, 0] / z, uv[:, 1] / z
        return u.min(), u.max(), v.min(), v.max()

    def cull(self, lo: np.ndarray, hi: np.ndarray) -> list[tuple[slice, slice]]:
        """Pixel rectangle covering the projection of an AABB (relative to the camera centre)."""
        box = self._bbox(lo, hi)
        if box is None:
            return []
        if box is True:
            return [(slice(0, self.height), slice(0, self.width))]
        u0, u1, v0, v1 = box
        c0, c1 = max(int(np.floor(u0)), 0), min(int(np.ceil(u1)) + 1, self.width)
        r0, r1 = max(int(np.floor(v0)), 0), min(int(np.ceil(v1)) + 1, self.height)
        if c0 >= c1 or r0 >= r1:
            return []
        return [(slice(r0, r1), slice(c0, c1))]

    def depth_at(self, geom: FrameGeometry, u: np.ndarray,
                 v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact camera depth (inf = sky) and primitive id along the rays through sub-pixel
        image positions (u, v) -- the renderer's ray-cast, not limited to pixel centres."""
        order = np.argsort(u)
        us = np.asarray(u, np.float64)[order]
        pix = np.column_stack([us, np.asarray(v, np.float64)[order], np.ones(len(us))])
        dirs = pix @ np.linalg.inv(self.camera.K).T @ np.linalg.inv(self.A).T
        d = tuple(dirs[None, :, k].astype(np.float32) for k in range(3))
        with np.errstate(divide="ignore"):
            inv = tuple(np.float32(1.0) / c for c in d)

        def cull(lo: np.ndarray, hi: np.ndarray) -> list[tuple[slice, slice]]:
            box = self._bbox(lo, hi)
            if box is None:
                return []
            if box is True:
                return [(slice(0, 1), slice(0, len(us)))]
            a, b = np.searchsorted(us, [box[0] - 1.0, box[1] + 1.0])
            return [(slice(0, 1), slice(int(a), int(b)))] if b > a else []

        t, prim = cast(geom, d, inv, cull, np.inf)
        out_t, out_p = np.empty_like(t[0]), np.empty_like(prim[0])
        out_t[order], out_p[order] = t[0], prim[0]
        return out_t, out_p

    def render(self, scene: Scene, tables: PrimTables, geom: FrameGeometry,
               frame_seed: int) -> CameraFrame:
        """Ray-cast, z-buffer and shade one frame; `geom` must be relative to the camera."""
        t, prim = cast(geom, self.dirs, self.inv, self.cull, np.inf)
        hit = prim >= 0
        idx = np.flatnonzero(hit)
        pr = prim.ravel()[idx]
        tt = t.ravel()[idx]
        p_rel = np.column_stack([tt * d.ravel()[idx] for d in self.dirs])
        dist = tt * self.norm.ravel()[idx]
        hits, normal = hit_attributes(scene, tables, geom, pr, p_rel, dist)
        color = albedo(self.tile, scene.road, hits)
        sun = np.clip(normal @ scene.sun, 0.0, None)
        recv = np.flatnonzero((pr == 0) | ((hits.mat == Material.SIDEWALK) & (hits.face == 5)))
        lit = sun_lit(scene, geom, p_rel[recv], idx[recv], (self.height, self.width), self.cull)
        sun[recv[~lit]] = 0.0
        sky_light = 0.42 + 0.12 * normal[:, 2]
        light = scene.exposure * ((1 - scene.overcast) * (sky_light + 0.62 * sun)
                                  + scene.overcast * (sky_light + 0.3) * 1.1)
        occl = np.where(hits.mat == Material.GROUND, 1.0,
                        0.75 + 0.25 * np.clip(hits.pw[:, 2] / 1.5, 0.0, 1.0))
        color *= (light * occl).astype(np.float32)[:, None]
        self._contact_shadows(scene, geom, idx, pr, hits.pw, color)
        haze = (1.0 - np.exp(-dist / scene.haze_m)).astype(np.float32)[:, None]
        color = color * (1 - haze) + scene.sky_horizon.astype(np.float32) * haze
        image = self._sky(scene).reshape(-1, 3)
        image[idx] = color
        rgb = image.reshape(self.height, self.width, 3) * self.vignette
        rng = np.random.default_rng(frame_seed)
        dy, dx = rng.integers(0, self.height), rng.integers(0, self.width)
        grain = self.grain[dy:dy + self.height, dx:dx + self.width]
        rgb = np.clip(np.power(np.clip(rgb, 0, 1), 1 / 2.2) * 255.0 + grain, 0, 255)
        depth = np.where(hit, t, 0.0).astype(np.float32)
        surface = np.full(self.height * self.width, -1, dtype=np.int32)
        surface[idx] = pr * 8 + hits.face
        return CameraFrame(rgb.astype(np.uint8), depth, surface.reshape(self.height, self.width))

    def _sky(self, scene: Scene) -> np.ndarray:
        """Sky colour per pixel (gradient by elevation plus clouds), HxWx3 float32."""
        if self._sky_weights is None:
            el = np.clip(self.dirs[2] / self.norm, -1, 1)
            lift = np.maximum(self.dirs[2], np.float32(0.02))
            a, b = self.dirs[0] / lift * 0.03, self.dirs[1] / lift * 0.03
            cloud = np.clip(lookup(self.tile, a, b, 4.0) * 1.6 - 0.1, 0, 1) * (el > 0.01)
            self._sky_weights = (np.clip(el * 2.5, 0, 1)[..., None], cloud[..., None])
        key = (*scene.sky_horizon.tolist(), *scene.sky_zenith.tolist())
        if self._sky_key != key:
            w, cloud = self._sky_weights
            sky = scene.sky_horizon * (1 - w) + scene.sky_zenith * w
            self._sky_image = (sky * (1 - cloud) + 0.95 * cloud).astype(np.float32)
            self._sky_key = key
        return self._sky_image.copy()

    def _contact_shadows(self, scene: Scene, geom: FrameGeometry, pixel: np.ndarray,
                         prim: np.ndarray, pw: np.ndarray, color: np.ndarray) -> None:
        """Darken the road under and around cars (ambient occlusion)."""
        ground = np.full(self.height * self.width, -1, dtype=np.int64)
        gidx = np.flatnonzero(prim == 0)
        cars = np.flatnonzero(scene.box_mat[geom.box_id - 1] == Material.CAR_BODY)
        if not len(gidx) or not len(cars):
            return
        ground[pixel[gidx]] = gidx
        grid = ground.reshape(self.height, self.width)
        for k in cars:
            lo, hi = geom.box_lo[k].copy(), geom.box_hi[k].copy()
            if lo[0] > 60.0 or hi[0] < 0.0:
                continue
            lo[:2] -= 0.5
            hi[:2] += 0.5
            hi[2] = lo[2] = -geom.origin[2]
            for rows, cols in self.cull(lo, hi):
                sel = grid[rows, cols].ravel()
                sel = sel[sel >= 0]
                p = pw[sel, :2] - geom.origin[:2]
                inside = np.maximum(np.maximum(lo[0] + 0.5 - p[:, 0], p[:, 0] - hi[0] + 0.5),
                                    np.maximum(lo[1] + 0.5 - p[:, 1], p[:, 1] - hi[1] + 0.5))
                f = np.clip(0.45 + 0.55 * (inside + 0.1) / 0.6, 0.45, 1.0).astype(np.float32)
                color[sel] *= f[:, None]
