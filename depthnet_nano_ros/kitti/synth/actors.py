"""Extra street actors for randomized drives: pedestrians, cyclists, trucks, fences.

Each is built from the scene's analytic primitives (boxes, vertical cylinders, ellipsoids).
Moving actors (cyclists, trucks) are boxes only, since only boxes move. :func:`add_actors`
is the ``extras`` hook of :func:`~depthnet_nano_ros.kitti.synth.scene.generate_scene`: it runs
once per 100 m block with its own random stream, so drives without it are unchanged.
"""

from __future__ import annotations

import numpy as np

from depthnet_nano_ros.kitti.synth.scene import Material, _Builder, _jitter, _Layout

__all__ = ["add_actors"]

_CLOTHES = np.array([[0.10, 0.10, 0.12], [0.20, 0.25, 0.45], [0.55, 0.10, 0.10],
                     [0.80, 0.80, 0.78], [0.35, 0.30, 0.22], [0.15, 0.35, 0.20],
                     [0.85, 0.60, 0.15]])
_SKIN = np.array([[0.85, 0.66, 0.52], [0.62, 0.45, 0.33], [0.40, 0.28, 0.20]])
_TRUCKS = np.array([[0.90, 0.90, 0.90], [0.75, 0.15, 0.10], [0.15, 0.25, 0.55],
                    [0.85, 0.75, 0.20], [0.30, 0.32, 0.34]])


def _pedestrian(b: _Builder, rng: np.random.Generator, x: float, y: float) -> None:
    """Legs, torso (cylinders) and head (ellipsoid), 1.5-1.95 m tall, standing at (x, y)."""
    h = rng.uniform(1.5, 1.95)
    z0 = 0.15  # on the kerb-high sidewalk
    legs = _jitter(rng, _CLOTHES[rng.integers(len(_CLOTHES))], 0.15)
    top = _jitter(rng, _CLOTHES[rng.integers(len(_CLOTHES))], 0.15)
    for dy in (-0.1, 0.1):
        b.cyl(x, y + dy, 0.075, z0, z0 + 0.47 * h, Material.WALL, legs)
    b.cyl(x, y, rng.uniform(0.16, 0.22), z0 + 0.47 * h, z0 + 0.84 * h, Material.WALL, top)
    b.ell((x, y, z0 + 0.92 * h), (0.1, 0.09, 0.12), Material.WALL,
          _SKIN[rng.integers(len(_SKIN))])


def _cyclist(b: _Builder, rng: np.random.Generator, x: float, y: float, vx: float) -> None:
    """A rider on a bike, all boxes (so it can move along x at `vx`)."""
    frame = _jitter(rng, _CLOTHES[rng.integers(len(_CLOTHES))], 0.2)
    body = _jitter(rng, _CLOTHES[rng.integers(len(_CLOTHES))], 0.2)
    for dx in (0.0, 1.05):  # wheels seen from the side: thin 0.68 m squares
        b.box((x + dx, y - 0.03, 0.0), (x + dx + 0.68, y + 0.03, 0.68), Material.POLE,
              np.array([0.08, 0.08, 0.08]), vx=vx)
    b.box((x + 0.3, y - 0.04, 0.45), (x + 1.4, y + 0.04, 0.6), Material.POLE, frame, vx=vx)
    b.box((x + 0.55, y - 0.18, 0.9), (x + 0.95, y + 0.18, 1.5), Material.WALL, body, vx=vx)
    b.box((x + 0.65, y - 0.1, 1.5), (x + 0.88, y + 0.1, 1.75), Material.WALL,
          _SKIN[rng.integers(len(_SKIN))], vx=vx)


def _truck(b: _Builder, rng: np.random.Generator, x: float, y: float, vx: float) -> float:
    """A cab and a cargo box, 7-12 m long and 3-3.8 m high; returns its length."""
    length, width, height = rng.uniform(7.0, 12.0), rng.uniform(2.3, 2.55), rng.uniform(3.0, 3.8)
    cab = rng.uniform(1.8, 2.4)
    lo_y, hi_y = y - width / 2, y + width / 2
    color = _jitter(rng, _TRUCKS[rng.integers(len(_TRUCKS))], 0.1)
    b.box((x, lo_y, 0.35), (x + cab, hi_y, 2.6), Material.CAR_BODY, color, vx=vx)
    b.box((x + 0.15, lo_y + 0.05, 2.0), (x + cab - 0.1, hi_y - 0.05, 2.55), Material.CAR_CABIN,
          np.array([0.1, 0.12, 0.14]), vx=vx)
    b.box((x + cab + 0.2, lo_y, 0.9), (x + length, hi_y, height), Material.WALL,
          _jitter(rng, np.array([0.8, 0.8, 0.78]), 0.2), vx=vx)
    b.box((x + cab, lo_y + 0.2, 0.35), (x + length, hi_y - 0.2, 0.9), Material.POLE,
          np.array([0.1, 0.1, 0.1]), vx=vx)
    return length


def _fence(b: _Builder, rng: np.random.Generator, x0: float, x1: float, y: float) -> None:
    """Posts every 2-3 m with two rails, 1-1.6 m high, along x at |y|."""
    h = rng.uniform(1.0, 1.6)
    color = _jitter(rng, np.array([0.45, 0.42, 0.38]), 0.3)
    for x in np.arange(x0, x1, rng.uniform(2.0, 3.0)):
        b.cyl(x, y, 0.05, 0.0, h, Material.POLE, color)
    for z in (0.45 * h, 0.9 * h):
        b.box((x0, y - 0.03, z - 0.05), (x1, y + 0.03, z + 0.05), Material.POLE, color)


def add_actors(b: _Builder, rng: np.random.Generator, lay: _Layout, x0: float,
               x1: float) -> None:
    """Pedestrians on the sidewalks, cyclists and trucks on the road, fences along it."""
    road, walk = lay.road, lay.road.sidewalk_width
    for side, kerb in ((1, road.left_edge), (-1, road.right_edge)):
        for _ in range(int(rng.poisson(2.5))):
            _pedestrian(b, rng, rng.uniform(x0, x1), kerb + side * rng.uniform(0.4, walk - 0.3))
        if rng.random() < 0.3:
            a = rng.uniform(x0, x1 - 15)
            _fence(b, rng, a, min(x1, a + rng.uniform(15, 60)), kerb + side * (walk + 0.05))
    if rng.random() < 0.5:  # a cyclist near the right kerb, with the traffic
        y = min(road.right_edge + lay.park + 0.6, -1.3)  # right of the ego's path
        _cyclist(b, rng, rng.uniform(x0, x1 - 2), y, rng.uniform(3.0, 6.0))
    if rng.random() < 0.35:  # a truck on the far-left lane, oncoming
        y = lay.lane * lay.n_left + rng.uniform(-0.2, 0.2)
        _truck(b, rng, rng.uniform(x0, x1 - 12), y, lay.lane_vx[-1])
    if lay.park > 0 and rng.random() < 0.3:  # a parked truck
        _truck(b, rng, rng.uniform(x0, x1 - 12), road.right_edge + lay.park / 2 + 0.2, 0.0)
