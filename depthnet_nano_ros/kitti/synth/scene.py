"""Procedural KITTI-like street: road, sidewalks, buildings, parked and moving cars, poles, trees.

World frame: x along the road (the direction of travel), y to the left, z up, road at z = 0.
Everything is an analytic primitive -- axis-aligned boxes, vertical cylinders, axis-aligned
ellipsoids, plus the ground plane -- so camera and lidar can ray-cast the same geometry.
Primitive ids: 0 is the ground, boxes follow, then cylinders, then ellipsoids.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
from numpy.typing import ArrayLike

BLOCK_M = 100.0  #: the street is generated block by block, each block from its own seed
_BLOCK_BIAS = 1 << 20  #: keeps block indices (negative behind the start) non-negative for seeding


class Material(IntEnum):
    """Surface kinds; each has its own texture and lidar reflectance."""

    GROUND = 0
    SIDEWALK = 1
    BUILDING = 2
    CAR_BODY = 3
    CAR_CABIN = 4
    POLE = 5
    TRUNK = 6
    CROWN = 7
    SIGN = 8
    WALL = 9


#: mean lidar reflectance per material (lane markings: see :data:`MARKING_REFLECTANCE`)
REFLECTANCE = np.array([0.22, 0.30, 0.25, 0.45, 0.10, 0.55, 0.30, 0.35, 0.90, 0.28], np.float32)
MARKING_REFLECTANCE = 0.80
GRASS_REFLECTANCE = 0.40

_FACADES = np.array([[0.80, 0.74, 0.62], [0.62, 0.60, 0.58], [0.66, 0.34, 0.26],
                     [0.88, 0.86, 0.80], [0.55, 0.62, 0.70], [0.76, 0.66, 0.48],
                     [0.45, 0.42, 0.40], [0.84, 0.78, 0.70]])
_CARS = np.array([[0.92, 0.92, 0.92], [0.70, 0.71, 0.74], [0.08, 0.08, 0.09],
                  [0.62, 0.07, 0.06], [0.10, 0.20, 0.50], [0.30, 0.32, 0.34],
                  [0.85, 0.75, 0.20], [0.12, 0.35, 0.18], [0.45, 0.30, 0.20]])
_SIGNS = np.array([[0.80, 0.08, 0.08], [0.08, 0.25, 0.75], [0.95, 0.95, 0.95],
                   [0.95, 0.75, 0.05]])


@dataclass
class Road:
    """Cross-section of the road (metres in y) and its painted lines."""

    right_edge: float          #: y of the right kerb (negative)
    left_edge: float           #: y of the left kerb (positive)
    sidewalk_width: float
    lines: np.ndarray          #: (L, 3): y, half-width, dashed (0/1)


@dataclass
class Scene:
    """All primitives of one drive; cars may move along x with `box_vx` m/s."""

    road: Road
    box_lo: np.ndarray         #: (B, 3) lower corners at t = 0
    box_hi: np.ndarray         #: (B, 3) upper corners at t = 0
    box_vx: np.ndarray         #: (B,) speed along x in m/s (0 = static)
    box_mat: np.ndarray        #: (B,) Material
    box_color: np.ndarray      #: (B, 3) linear RGB in [0, 1]
    box_pattern: np.ndarray    #: (B, 4) window spacing, floor height, window w/h fractions
    cyl: np.ndarray            #: (C, 5) centre x, centre y, radius, z0, z1
    cyl_mat: np.ndarray
    cyl_color: np.ndarray
    ell: np.ndarray            #: (E, 6) centre xyz, radii xyz
    ell_mat: np.ndarray
    ell_color: np.ndarray
    sun: np.ndarray            #: (3,) unit vector towards the sun
    sky_zenith: np.ndarray     #: (3,) sky colour overhead
    sky_horizon: np.ndarray    #: (3,) sky colour at the horizon
    haze_m: float = 380.0      #: distance at which haze covers 63 % of a surface's colour
    exposure: float = 1.0      #: overall brightness of the sunlit image
    overcast: float = 0.0      #: 0 = clear (strong sun), 1 = overcast (ambient light only)

    @property
    def n_prims(self) -> int:
        """Ground + boxes + cylinders + ellipsoids."""
        return 1 + len(self.box_lo) + len(self.cyl) + len(self.ell)

    def prim_offsets(self) -> tuple[int, int, int]:
        """First primitive id of boxes, cylinders and ellipsoids."""
        nb, nc = len(self.box_lo), len(self.cyl)
        return 1, 1 + nb, 1 + nb + nc

    def static_prims(self) -> np.ndarray:
        """Boolean mask over primitive ids: True for geometry that never moves."""
        mask = np.ones(self.n_prims, dtype=bool)
        mask[1:1 + len(self.box_lo)] = self.box_vx == 0
        return mask


class _Builder:
    """Accumulates primitives while the generator walks along the road."""

    def __init__(self) -> None:
        self.boxes: list[tuple] = []
        self.cyls: list[tuple] = []
        self.ells: list[tuple] = []

    def box(self, lo: ArrayLike, hi: ArrayLike, mat: Material, color: ArrayLike,
            pattern: ArrayLike = (0, 0, 0, 0), vx: float = 0.0) -> None:
        """Add an axis-aligned box (lo, hi corners), moving along x at `vx`."""
        self.boxes.append((lo, hi, vx, int(mat), color, pattern))

    def cyl(self, x: float, y: float, r: float, z0: float, z1: float, mat: Material,
            color: ArrayLike) -> None:
        """Add a vertical cylinder at (x, y) of radius r from z0 to z1."""
        self.cyls.append(((x, y, r, z0, z1), int(mat), color))

    def ell(self, centre: ArrayLike, radii: ArrayLike, mat: Material, color: ArrayLike) -> None:
        """Add an axis-aligned ellipsoid."""
        self.ells.append((tuple(np.ravel(centre)) + tuple(np.ravel(radii)), int(mat), color))


def _jitter(rng: np.random.Generator, color: np.ndarray, amount: float) -> np.ndarray:
    """Scale a colour by a random factor of 1 +- `amount` per channel."""
    return np.clip(color * (1 + rng.uniform(-amount, amount, 3)), 0.02, 1.0)


def _car(b: _Builder, rng: np.random.Generator, x: float, y: float, vx: float) -> float:
    """A car (body + cabin) centred at (x, y); returns its length."""
    van = rng.random() < 0.15
    length = rng.uniform(4.6, 5.4) if van else rng.uniform(3.8, 4.9)
    width = rng.uniform(1.65, 1.95)
    body_h = rng.uniform(1.2, 1.5) if van else rng.uniform(0.6, 0.8)
    color = _jitter(rng, _CARS[rng.integers(len(_CARS))], 0.12)
    x0, z0 = x - length / 2, 0.12
    b.box((x0, y - width / 2, z0), (x0 + length, y + width / 2, z0 + body_h),
          Material.CAR_BODY, color, vx=vx)
    cab_len = length * (rng.uniform(0.55, 0.8) if van else rng.uniform(0.42, 0.55))
    cab_x0 = x0 + length * (0.05 if van else rng.uniform(0.18, 0.28))
    if vx < 0:  # oncoming cars face -x: put the cabin towards their front
        cab_x0 = x0 + length - (cab_x0 - x0) - cab_len
    inset = rng.uniform(0.07, 0.12)
    cab_h = rng.uniform(0.35, 0.5) if van else rng.uniform(0.45, 0.6)
    b.box((cab_x0, y - width / 2 + inset, z0 + body_h),
          (cab_x0 + cab_len, y + width / 2 - inset, z0 + body_h + cab_h),
          Material.CAR_CABIN, color, vx=vx)
    return length


def _buildings(b: _Builder, rng: np.random.Generator, side: int, y0: float,
               x_start: float, x_end: float) -> list[tuple[float, float]]:
    """A row of buildings beyond |y| = y0 on one side (+1 left, -1 right); returns the gaps."""
    gaps, x = [], x_start
    while x < x_end - 4.0:
        gap = rng.uniform(8, 22) if rng.random() < 0.25 else rng.uniform(0.0, 5.0)
        gaps.append((x, min(x + gap, x_end)))
        x += gap
        width = min(rng.uniform(8, 30), x_end - x)
        depth = rng.uniform(8, 16)
        height = float(np.clip(rng.lognormal(np.log(10), 0.5), 3.5, 30))
        near = y0 + rng.uniform(0.0, 3.0)
        lo_y, hi_y = (near, near + depth) if side > 0 else (-near - depth, -near)
        color = _jitter(rng, _FACADES[rng.integers(len(_FACADES))], 0.1)
        pattern = (rng.uniform(1.8, 3.4), rng.uniform(2.8, 3.6), rng.uniform(0.35, 0.6),
                   rng.uniform(0.4, 0.6))
        if width >= 4.0:
            b.box((x, lo_y, 0.0), (x + width, hi_y, height), Material.BUILDING, color, pattern)
        x += width
    return gaps


def _tree(b: _Builder, rng: np.random.Generator, x: float, y: float) -> None:
    """Trunk + crown; crowns stay clear of the ego lane (|y| < 2.2 m)."""
    trunk_h = rng.uniform(2.2, 3.5)
    b.cyl(x, y, rng.uniform(0.12, 0.25), 0.0, trunk_h, Material.TRUNK,
          _jitter(rng, np.array([0.36, 0.26, 0.18]), 0.2))
    rxy = min(rng.uniform(1.2, 2.6), abs(y) - 2.2)
    rz = rng.uniform(1.5, 3.2)
    green = _jitter(rng, np.array([0.22, 0.42, 0.16]), 0.3)
    b.ell((x, y, trunk_h + 0.45 * rz), (rxy, rxy, rz), Material.CROWN, green)


@dataclass
class _Layout:
    """The street's cross-section and traffic, fixed for the whole drive."""

    lane: float
    n_left: int
    park: float
    road: Road
    kerb_h: float
    setback: tuple[float, float]   #: extra distance of the buildings (left, right)
    lane_vx: tuple[float, ...]     #: speed of the traffic on each left lane


def _layout(rng: np.random.Generator) -> _Layout:
    """Draw the cross-section, kerb, set-backs and lane speeds of a street."""
    lane = rng.uniform(3.2, 3.7)
    n_left, n_right = int(rng.integers(1, 3)), int(rng.integers(0, 2))
    park = rng.uniform(2.0, 2.4) if rng.random() < 0.7 else 0.0
    right, left = -lane / 2 - n_right * lane - park, lane / 2 + n_left * lane + park
    lines = [(lane / 2 + k * lane, 0.06, 1.0) for k in range(n_left)]
    lines[0] = (lane / 2, 0.07, float(rng.random() < 0.5))
    lines += [(-lane / 2 - k * lane, 0.06, 1.0) for k in range(n_right)]
    lines += [(left - park - 0.25, 0.08, 0.0), (right + park + 0.25, 0.08, 0.0)]
    road = Road(right, left, rng.uniform(2.0, 4.0), np.array(lines, dtype=np.float64))
    lane_vx = tuple(-rng.uniform(8, 14) if k == n_left - 1 else float(rng.choice([0, 9, 12]))
                    for k in range(n_left))
    return _Layout(lane, n_left, park, road, rng.uniform(0.10, 0.16),
                   (rng.uniform(0.0, 4.0), rng.uniform(0.0, 4.0)), lane_vx)


def _static_block(b: _Builder, rng: np.random.Generator, lay: _Layout, x0: float,
                  x1: float) -> None:
    """Sidewalks, buildings, trees, poles, signs, walls and parked cars of x in [x0, x1)."""
    road, walk = lay.road, lay.road.sidewalk_width
    for x in np.arange(x0, x1, 25.0):
        for lo_y, hi_y in ((road.left_edge, road.left_edge + walk),
                           (road.right_edge - walk, road.right_edge)):
            b.box((x, lo_y, 0.0), (x + 25.0, hi_y, lay.kerb_h), Material.SIDEWALK,
                  _jitter(rng, np.array([0.62, 0.60, 0.57]), 0.05))
    sides = ((1, road.left_edge + walk, lay.setback[0]),
             (-1, walk - road.right_edge, lay.setback[1]))
    for side, edge, setback in sides:  # edge: |y| of the sidewalk's back
        for g0, g1 in _buildings(b, rng, side, edge + setback, x0, x1):
            for x in np.arange(g0 + 2.0, g1 - 1.0, rng.uniform(4.0, 7.0)):
                _tree(b, rng, x + rng.uniform(-1, 1), side * (edge + rng.uniform(1.0, 3.5)))
        x = x0 + rng.uniform(0, 10)
        while x < x1:  # street trees, poles and signs on the sidewalk
            y = side * (edge - walk + rng.uniform(0.5, 0.9))
            kind = rng.random()
            if kind < 0.45:
                _tree(b, rng, x, side * (edge - walk * 0.5))
            elif kind < 0.8:
                b.cyl(x, y, rng.uniform(0.07, 0.14), 0.0, rng.uniform(5, 9), Material.POLE,
                      _jitter(rng, np.array([0.5, 0.5, 0.52]), 0.2))
            else:
                b.cyl(x, y, 0.04, 0.0, 2.6, Material.POLE, np.array([0.55, 0.55, 0.55]))
                b.box((x - 0.05, y - 0.35, 1.9), (x - 0.03, y + 0.35, 2.6), Material.SIGN,
                      _SIGNS[rng.integers(len(_SIGNS))])
            x += rng.uniform(8, 30)
        if rng.random() < 0.25:  # a low wall along part of the sidewalk's outer edge
            w0 = rng.uniform(x0, x1 - 20)
            y_in = side * (edge + 0.1)
            b.box((w0, min(y_in, y_in + side * 0.3), 0.0),
                  (min(x1, w0 + rng.uniform(20, 60)), max(y_in, y_in + side * 0.3),
                   rng.uniform(0.8, 1.8)), Material.WALL,
                  _jitter(rng, _FACADES[rng.integers(len(_FACADES))], 0.15))
    if lay.park > 0:  # parked cars in the parking strips
        for y in (road.left_edge - lay.park / 2, road.right_edge + lay.park / 2):
            x = x0 + 3.0
            while x < x1 - 3.0:
                parked = rng.random() < 0.6
                length = _car(b, rng, x, y + rng.uniform(-0.2, 0.2), 0.0) if parked else 4.5
                x += length + rng.uniform(1.5, 3.5)


def generate_scene(seed: int, x_start: float, x_end: float, duration_s: float,
                   ego_speed: float, extras: Extras | None = None) -> Scene:
    """A random street covering x in [x_start, x_end].

    The ego lane (|y| < 1.75 m) holds nothing but, on 60 % of streets, a queue of 1-3 cars
    starting 15-40 m ahead and driving at `ego_speed` (the ego's mean speed, so the gap only
    breathes with the ego's speed variation, by less than 12 m). The street is built in 100 m
    blocks, each from its own seed, so a longer drive with the same seed extends a shorter one
    instead of changing it. Moving traffic is generated far enough up and down the road to
    stay in view for `duration_s` seconds. `extras(builder, rng, layout, x0, x1)` adds more
    per block from a stream of its own (``synth.actors.add_actors``).
    """
    rng = np.random.default_rng([seed, 0])
    lay = _layout(rng)
    b = _Builder()
    if rng.random() < 0.6:  # cars ahead in the ego lane
        x = rng.uniform(15.0, 40.0) + 2.7
        for _ in range(int(rng.integers(1, 4))):
            x += _car(b, rng, x, rng.uniform(-0.25, 0.25), ego_speed) + rng.uniform(8.0, 30.0)
    first, last = int(np.floor(x_start / BLOCK_M)), int(np.ceil(x_end / BLOCK_M))
    for blk in range(first, last):
        block_rng = np.random.default_rng([seed, 1, blk + _BLOCK_BIAS])
        _static_block(b, block_rng, lay, blk * BLOCK_M, (blk + 1) * BLOCK_M)
        if extras is not None:
            extras(b, np.random.default_rng([seed, 3, blk + _BLOCK_BIAS]), lay,
                   blk * BLOCK_M, (blk + 1) * BLOCK_M)
    for k, vx in enumerate(lay.lane_vx):  # traffic on the left lanes
        reach = abs(vx) * duration_s
        for blk in range(int(np.floor((x_start - reach) / BLOCK_M)),
                         int(np.ceil((x_end + reach) / BLOCK_M))):
            block_rng = np.random.default_rng([seed, 2, k, blk + _BLOCK_BIAS])
            x, x1 = blk * BLOCK_M + block_rng.uniform(3, 20), (blk + 1) * BLOCK_M - 3.0
            while x < x1:
                y = lay.lane * (k + 1) + block_rng.uniform(-0.3, 0.3)
                x += _car(b, block_rng, x, y, vx) + block_rng.uniform(6, 45)
    return _finish(b, rng, lay.road)


def _finish(b: _Builder, rng: np.random.Generator, road: Road) -> Scene:
    """Pack the builder's lists into arrays."""
    f64 = np.float64
    boxes = b.boxes
    elevation, azimuth = np.deg2rad(rng.uniform(20, 50)), rng.uniform(-np.pi, np.pi)
    sun = np.array([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth),
                    np.sin(elevation)])
    return Scene(
        road=road,
        box_lo=np.array([x[0] for x in boxes], f64).reshape(-1, 3),
        box_hi=np.array([x[1] for x in boxes], f64).reshape(-1, 3),
        box_vx=np.array([x[2] for x in boxes], f64),
        box_mat=np.array([x[3] for x in boxes], np.int32),
        box_color=np.array([x[4] for x in boxes], np.float32).reshape(-1, 3),
        box_pattern=np.array([x[5] for x in boxes], np.float32).reshape(-1, 4),
        cyl=np.array([c[0] for c in b.cyls], f64).reshape(-1, 5),
        cyl_mat=np.array([c[1] for c in b.cyls], np.int32),
        cyl_color=np.array([c[2] for c in b.cyls], np.float32).reshape(-1, 3),
        ell=np.array([e[0] for e in b.ells], f64).reshape(-1, 6),
        ell_mat=np.array([e[1] for e in b.ells], np.int32),
        ell_color=np.array([e[2] for e in b.ells], np.float32).reshape(-1, 3),
        sun=sun / np.linalg.norm(sun),
        sky_zenith=np.array([0.25, 0.45, 0.85]) * rng.uniform(0.8, 1.1),
        sky_horizon=np.array([0.78, 0.84, 0.92]) * rng.uniform(0.9, 1.05),
        haze_m=float(rng.uniform(200.0, 700.0)),
        exposure=float(rng.uniform(0.85, 1.15)),
        overcast=float(rng.uniform(0.0, 0.6)) if rng.random() < 0.3 else 0.0,
    )


#: the `extras` hook of :func:`generate_scene`: (builder, rng, layout, x0, x1) -> None
Extras = Callable[[_Builder, np.random.Generator, _Layout, float, float], None]


@dataclass
class PrimTables:
    """Per-primitive lookup tables indexed by primitive id."""

    material: np.ndarray   #: (P,) Material
    color: np.ndarray      #: (P, 3) float32 albedo
    pattern: np.ndarray    #: (P, 4) float32 facade pattern (boxes)


def prim_tables(scene: Scene) -> PrimTables:
    """Material, colour and pattern of every primitive id (id 0 = ground)."""
    mat = np.concatenate([[Material.GROUND], scene.box_mat, scene.cyl_mat, scene.ell_mat])
    color = np.concatenate([np.full((1, 3), 0.3, np.float32), scene.box_color,
                            scene.cyl_color, scene.ell_color])
    pattern = np.zeros((scene.n_prims, 4), np.float32)
    pattern[1:1 + len(scene.box_lo)] = scene.box_pattern
    return PrimTables(mat.astype(np.int32), color.astype(np.float32), pattern)
