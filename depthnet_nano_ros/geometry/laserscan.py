"""Depth image -> planar laser scan (ROS-free), with depthimage_to_laserscan's semantics.

A band of `rows` image rows starting at int(cy - rows / 2) is collapsed into one scan: each
pixel's range is the length of its point projected on the camera's x-z plane,
r = sqrt(x^2 + z^2) with x = (u - cx) z / fx, and falls into the scan bin of its ray's angle
th = -atan2((u - cx) / fx, 1) (positive to the left of the optical axis). Per bin the
shortest range in [range_min, range_max] wins; bins without one are NaN (no return). There is
one bin per image column: angle_max is the left edge's angle, angle_min the right edge's, and
the increment (max - min) / (width - 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from depthnet_nano_ros.errors import DepthNetNanoError


class LaserScanError(DepthNetNanoError):
    """Scan parameters that cannot produce a scan."""


@dataclass(frozen=True)
class Scan:
    """A planar scan: LaserScan's geometry fields and its float32 ranges (NaN = no return)."""

    angle_min: float
    angle_max: float
    angle_increment: float
    range_min: float
    range_max: float
    ranges: np.ndarray


def scan_angles(width: int, fx: float, cx: float) -> tuple[float, float, float]:
    """(angle_min, angle_max, angle_increment) of a `width`-column image's scan."""
    if width < 2:
        raise LaserScanError(f"a scan needs an image at least 2 pixels wide, got {width}")
    angle_max = math.atan2(cx, fx)  # the ray of column 0 (left edge)
    angle_min = -math.atan2(width - 1 - cx, fx)  # the ray of the last column (right edge)
    return angle_min, angle_max, (angle_max - angle_min) / (width - 1)


def band_rows(height: int, cy: float, rows: int) -> tuple[int, int]:
    """[first, stop) rows of the band of `rows` rows around cy, clipped to the image."""
    if rows < 1:
        raise LaserScanError(f"scan.rows={rows}: use at least 1 row")
    first = int(cy - rows / 2.0)
    return max(first, 0), min(first + rows, height)


def depth_to_scan(depth: np.ndarray, fx: float, cx: float, cy: float, rows: int,
                  range_min: float, range_max: float) -> Scan:
    """HxW float32 metres (NaN invalid) -> the scan of the band of `rows` rows around cy."""
    if not 0.0 <= range_min < range_max:
        raise LaserScanError(f"scan.range_min={range_min} / scan.range_max={range_max}: use "
                             "0 <= range_min < range_max (metres)")
    h, w = depth.shape
    angle_min, angle_max, inc = scan_angles(w, fx, cx)
    first, stop = band_rows(h, cy, rows)
    u = np.arange(w, dtype=np.float64)
    slope = (u - cx) / fx  # x / z of each column's ray
    theta = -np.arctan2(slope, 1.0)
    index = np.clip(((theta - angle_min) / inc).astype(np.int64), 0, w - 1)
    band = depth[first:stop].astype(np.float64)
    with np.errstate(invalid="ignore"):
        r = band * np.sqrt(1.0 + slope * slope)  # |(x, z)| for every pixel of the band
        ok = np.isfinite(r) & (r >= range_min) & (r <= range_max)
    best = np.full(w, np.inf)
    np.minimum.at(best, np.broadcast_to(index, r.shape)[ok], r[ok])
    ranges = np.where(np.isfinite(best), best, np.nan).astype(np.float32)
    return Scan(angle_min, angle_max, inc, float(range_min), float(range_max), ranges)
