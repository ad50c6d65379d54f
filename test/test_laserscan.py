"""Depth -> LaserScan against an independent per-pixel loop (depthimage_to_laserscan's way), on
a real KITTI frame's lidar depth and on a synthetic-drive frame with exact depth."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from depthnet_nano_ros.geometry.laserscan import LaserScanError, depth_to_scan, scan_angles
from depthnet_nano_ros.kitti import RawDrive, frame_sparse_depth
from depthnet_nano_ros.kitti.synth import SynthDrive


def _use_point(new: float, old: float, rmin: float, rmax: float) -> bool:
    """depthimage_to_laserscan's rule: in range, and shorter than a finite old value."""
    if not math.isfinite(new) and not math.isfinite(old):
        return not math.isnan(new)
    if not rmin <= new <= rmax:
        return False
    return not math.isfinite(old) or new < old


def _reference_scan(depth: np.ndarray, fx: float, cx: float, cy: float, rows: int,
                    rmin: float, rmax: float) -> np.ndarray:
    """Pixel by pixel: project to (x, z), range, angle -> bin, keep the shortest."""
    h, w = depth.shape
    amin, amax = -math.atan2(w - 1 - cx, fx), math.atan2(cx, fx)
    inc = (amax - amin) / (w - 1)
    ranges = [math.nan] * w
    offset = int(cy - rows / 2.0)
    for v in range(max(offset, 0), min(offset + rows, h)):
        for u in range(w):
            z = float(depth[v, u])
            th = -math.atan2((u - cx) / fx, 1.0)
            index = min(max(int((th - amin) / inc), 0), w - 1)
            r = math.hypot((u - cx) * z / fx, z) if math.isfinite(z) else z
            if _use_point(r, ranges[index], rmin, rmax):
                ranges[index] = r
    return np.array(ranges, np.float32)


def _check_against_reference(depth, fx, cx, cy, rows, rmin, rmax) -> np.ndarray:
    scan = depth_to_scan(depth, fx, cx, cy, rows, rmin, rmax)
    ref = _reference_scan(depth, fx, cx, cy, rows, rmin, rmax)
    np.testing.assert_array_equal(np.isnan(scan.ranges), np.isnan(ref))
    np.testing.assert_allclose(scan.ranges, ref, rtol=1e-6, equal_nan=True)
    angles = scan_angles(depth.shape[1], fx, cx)
    assert (scan.angle_min, scan.angle_max) == pytest.approx(angles[:2])
    assert scan.angle_min < 0 < scan.angle_max  # right edge negative, left edge positive
    return scan.ranges


def test_kitti_lidar_depth_matches_the_reference(kitti_date_dir: Path) -> None:
    drive = RawDrive(kitti_date_dir, "0005")
    depth = frame_sparse_depth(drive, 0)
    depth[depth <= 0] = np.nan  # 0 = no lidar point
    k = drive.calibration(0).K(2)
    fx, cx, cy = float(k[0, 0]), float(k[0, 2]), float(k[1, 2])
    # sparse lidar: a band of 40 rows around cy holds several scan lines
    ranges = _check_against_reference(depth, fx, cx, cy, 40, 1.0, 80.0)
    assert 0.3 < np.isfinite(ranges).mean() and np.nanmin(ranges) >= 1.0


def test_synthetic_frame_ranges_are_the_rendered_geometry() -> None:
    synth = SynthDrive(2, 3)
    frame = synth.frame(0)
    depth = frame.camera.depth.astype(np.float32)
    depth[frame.camera.surface < 0] = np.nan  # sky
    k = synth.camera.K
    fx, cx, cy = float(k[0, 0]), float(k[0, 2]), float(k[1, 2])
    _check_against_reference(depth, fx, cx, cy, 5, 0.5, 60.0)
    # One row: bin i holds the column whose ray angle falls in it; its range is |(x, z)| of
    # the rendered point there, so x = -r sin(angle), z = r cos(angle) within a bin's width.
    one = depth_to_scan(depth, fx, cx, cy, 1, 0.5, 60.0)
    v = int(cy - 0.5)
    u = np.arange(depth.shape[1])
    z = depth[v].astype(np.float64)
    x = (u - cx) * z / fx
    ok = np.isfinite(z) & (np.hypot(x, z) <= 60.0)
    theta = -np.arctan2(x[ok], z[ok])
    bins = np.clip(((theta - one.angle_min) / one.angle_increment).astype(int), 0, u.size - 1)
    assert ok.sum() > 100 and np.isfinite(one.ranges[bins]).all()
    assert (one.ranges[bins] <= np.hypot(x, z)[ok] * (1 + 1e-6)).all()  # nearest per bin


def test_bad_parameters_are_named() -> None:
    depth = np.ones((4, 6), np.float32)
    with pytest.raises(LaserScanError, match="scan.rows"):
        depth_to_scan(depth, 5.0, 3.0, 2.0, 0, 0.1, 10.0)
    with pytest.raises(LaserScanError, match="range_min"):
        depth_to_scan(depth, 5.0, 3.0, 2.0, 1, 10.0, 1.0)
    with pytest.raises(LaserScanError, match="2 pixels wide"):
        depth_to_scan(np.ones((4, 1), np.float32), 5.0, 0.0, 2.0, 1, 0.1, 10.0)
