"""Procedural surface appearance: albedo for the camera, reflectance for the lidar.

Textures are functions of world coordinates, so a surface looks the same from every frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from depthnet_nano_ros.kitti.synth.scene import (
    GRASS_REFLECTANCE,
    MARKING_REFLECTANCE,
    REFLECTANCE,
    Material,
    Road,
)

_TILE = 256


def noise_tile(seed: int) -> np.ndarray:
    """A seamless 256x256 smooth noise tile with values in [-1, 1]."""
    rng = np.random.default_rng(seed)
    white = rng.standard_normal((_TILE, _TILE))
    f = np.fft.fftfreq(_TILE)
    gauss = np.exp(-2 * (np.pi * 1.5) ** 2 * (f[:, None] ** 2 + f[None, :] ** 2))
    smooth = np.real(np.fft.ifft2(np.fft.fft2(white) * gauss))
    return np.clip(smooth / (2.5 * smooth.std()), -1, 1).astype(np.float32)


def lookup(tile: np.ndarray, a: np.ndarray, b: np.ndarray, scale: float) -> np.ndarray:
    """Nearest-cell noise at world coordinates (a, b) with `scale` cells per metre."""
    ia = np.floor(a * scale).astype(np.int64) & (_TILE - 1)
    ib = np.floor(b * scale).astype(np.int64) & (_TILE - 1)
    return tile[ia, ib]


def hash01(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Deterministic pseudo-random value in [0, 1) per integer triple."""
    h = np.sin(a * 12.9898 + b * 78.233 + c * 37.719) * 43758.5453
    return (h - np.floor(h)).astype(np.float32)


def ground_kind(road: Road, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """0 = asphalt, 1 = painted line, 2 = verge (grass / dirt) for points on the ground."""
    kind = np.where((y > road.right_edge) & (y < road.left_edge), 0, 2).astype(np.int8)
    for y_line, half, dashed in road.lines:
        on = np.abs(y - y_line) < half
        if dashed:
            on &= np.mod(x, 12.0) < 4.0
        kind[on] = 1
    return kind


@dataclass
class Hits:
    """Per-hit attributes the texture functions need (N hits)."""

    mat: np.ndarray     #: (N,) Material
    face: np.ndarray    #: (N,) face index (boxes: -x, +x, -y, +y, -z, +z)
    pw: np.ndarray      #: (N, 3) world coordinates
    color: np.ndarray   #: (N, 3) base albedo of the primitive
    pattern: np.ndarray  #: (N, 4) facade pattern
    lo: np.ndarray      #: (N, 3) box lower corner in the world (zeros for non-boxes)
    hi: np.ndarray      #: (N, 3) box upper corner
    prim: np.ndarray    #: (N,) primitive id
    dist: np.ndarray    #: (N,) distance from the sensor (m)


def reflectance(tile: np.ndarray, road: Road, h: Hits) -> np.ndarray:
    """Lidar reflectance in [0, 1] per hit: the material's, lane paint bright, some variation."""
    r = REFLECTANCE[h.mat] * (1.0 + 0.25 * lookup(tile, h.pw[:, 0], h.pw[:, 1] + h.pw[:, 2], 3.0))
    ground = np.flatnonzero(h.mat == Material.GROUND)
    kind = ground_kind(road, h.pw[ground, 0], h.pw[ground, 1])
    r[ground[kind == 1]] = MARKING_REFLECTANCE
    r[ground[kind == 2]] = GRASS_REFLECTANCE
    return np.clip(r, 0.0, 1.0).astype(np.float32)


def _facade_coords(h: Hits, idx: np.ndarray) -> np.ndarray:
    """Horizontal coordinate along a vertical box face (y on x-faces, x on y-faces)."""
    return np.where(h.face[idx] < 2, h.pw[idx, 1], h.pw[idx, 0])


def albedo(tile: np.ndarray, road: Road, h: Hits) -> np.ndarray:
    """(N, 3) float32 albedo of every hit."""
    x, y, z = h.pw[:, 0], h.pw[:, 1], h.pw[:, 2]
    fine = np.clip(1.0 - h.dist / 40.0, 0.0, 1.0)  # fade sub-decimetre texture with distance
    out = h.color * (1.0 + 0.12 * lookup(tile, x + z, y - z, 1.3))[:, None]
    out *= (1.0 + 0.10 * fine * lookup(tile, y + z, x + z, 9.0))[:, None]
    _ground(tile, road, h, out, fine)
    _buildings(h, out)
    _cars(h, out)
    for mat, amount, scale in ((Material.CROWN, 0.45, 5.0), (Material.TRUNK, 0.3, 7.0),
                               (Material.WALL, 0.15, 4.0)):
        idx = np.flatnonzero(h.mat == mat)
        n = lookup(tile, x[idx] * 0.7 + z[idx], y[idx] * 0.7 - z[idx], scale)
        out[idx] *= (1.0 + amount * n)[:, None]
    walk = np.flatnonzero((h.mat == Material.SIDEWALK) & (h.face == 5))
    joints = (np.mod(x[walk], 0.6) < 0.04) | (np.mod(y[walk], 0.6) < 0.04)
    out[walk[joints]] *= 0.75
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _ground(tile: np.ndarray, road: Road, h: Hits, out: np.ndarray, fine: np.ndarray) -> None:
    """Asphalt, paint and verge on the ground plane."""
    idx = np.flatnonzero(h.mat == Material.GROUND)
    x, y = h.pw[idx, 0], h.pw[idx, 1]
    kind = ground_kind(road, x, y)
    coarse = lookup(tile, x, y, 0.35)
    grain = lookup(tile, x, y, 6.0) * fine[idx]
    asphalt = (0.30 + 0.05 * coarse + 0.05 * grain)[:, None] * np.array([1.0, 1.0, 1.04])
    grass = np.where((coarse > 0.1)[:, None], [0.30, 0.42, 0.16], [0.42, 0.36, 0.26])
    grass = grass * (1.0 + 0.35 * lookup(tile, y, x, 3.0))[:, None]
    paint = np.full((len(idx), 3), 0.85) * (1.0 + 0.05 * grain)[:, None]
    out[idx] = np.where((kind == 0)[:, None], asphalt, np.where((kind == 1)[:, None], paint, grass))


def _buildings(h: Hits, out: np.ndarray) -> None:
    """Windows, frames and roofs of buildings."""
    idx = np.flatnonzero((h.mat == Material.BUILDING) & (h.face < 4))
    s, z = _facade_coords(h, idx), h.pw[idx, 2]
    spacing, floor_h, wf, hf = (h.pattern[idx, k] for k in range(4))
    col, fs = np.divmod(s / spacing, 1.0)
    row, fz = np.divmod(z / floor_h, 1.0)
    window = (np.abs(fs - 0.5) < wf / 2) & (fz > 0.3) & (fz < 0.3 + hf)
    window &= z < h.hi[idx, 2] - 0.6
    frame = window & ((np.abs(fs - 0.5) > wf / 2 - 0.04) | (fz < 0.34))
    key = h.lo[idx, 0] * 0.37 + h.lo[idx, 1] * 1.3  # per building, independent of ids
    glass = 0.08 + 0.25 * hash01(col, row, key)
    tint = np.column_stack([glass * 0.85, glass * 0.95, glass * 1.1])
    out[idx[window]] = tint[window]
    out[idx[frame]] = 0.75
    roof = np.flatnonzero((h.mat == Material.BUILDING) & (h.face == 5))
    out[roof] *= 0.6


def _cars(h: Hits, out: np.ndarray) -> None:
    """Sills, lamps, number plates and glass of cars."""
    body = np.flatnonzero(h.mat == Material.CAR_BODY)
    zr = h.pw[body, 2] - h.lo[body, 2]
    out[body[zr < 0.25]] = 0.05  # bumpers, wheels and the shadowed sill
    ends = body[h.face[body] < 2]
    lateral = np.minimum(h.pw[ends, 1] - h.lo[ends, 1], h.hi[ends, 1] - h.pw[ends, 1])
    zr = h.pw[ends, 2] - h.lo[ends, 2]
    height = h.hi[ends, 2] - h.lo[ends, 2]
    lamp = (lateral < 0.35) & (zr > height - 0.3) & (zr < height - 0.12)
    rear = h.face[ends] == 0  # cars drive towards +x unless oncoming; close enough for paint
    out[ends[lamp & rear]] = [0.75, 0.05, 0.04]
    out[ends[lamp & ~rear]] = [0.95, 0.92, 0.75]
    plate = (np.abs(lateral - (h.hi[ends, 1] - h.lo[ends, 1]) / 2) < 0.25) & \
        (zr > 0.3) & (zr < 0.42)
    out[ends[plate]] = 0.9
    cabin = np.flatnonzero((h.mat == Material.CAR_CABIN) & (h.face < 4))
    s = _facade_coords(h, cabin)
    lo_s = np.where(h.face[cabin] < 2, h.lo[cabin, 1], h.lo[cabin, 0])
    hi_s = np.where(h.face[cabin] < 2, h.hi[cabin, 1], h.hi[cabin, 0])
    zc = h.pw[cabin, 2] - h.lo[cabin, 2]
    pillar = (np.minimum(s - lo_s, hi_s - s) < 0.09) | (zc > h.hi[cabin, 2] - h.lo[cabin, 2] - 0.06)
    glass = np.clip(0.06 + 0.18 * zc / 0.6, 0.05, 0.3)[:, None] * np.array([0.9, 1.0, 1.1])
    out[cabin] = np.where(pillar[:, None], out[cabin], glass)
