"""Benchmark: lidar GT projection of a ~120k-point scan and kitti2bag frames/s.

    python -m depthnet_nano_ros.kitti.bench [DATE_DIR] [--drive 0005] [--repeat 50]

Without DATE_DIR a random 120k-point scan and the 2011_09_26-like camera are used (no bag).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from depthnet_nano_ros.geometry.lidar_projection import project_to_depth
from depthnet_nano_ros.kitti.bag_writer import plan_frames, write_bag
from depthnet_nano_ros.kitti.raw import RawDrive


def _random_scan(n: int = 120_000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    az = rng.uniform(-np.pi, np.pi, n)
    el = np.deg2rad(rng.uniform(-24.8, 2.0, n))
    r = rng.uniform(2.0, 80.0, n)
    xyz = np.stack([r * np.cos(el) * np.cos(az), r * np.cos(el) * np.sin(az), r * np.sin(el)], 1)
    return np.c_[xyz, rng.uniform(0, 1, n)].astype(np.float32)


def bench_projection(points: np.ndarray, T: np.ndarray, K: np.ndarray, size: tuple[int, int],
                     repeat: int) -> list[float]:
    """Milliseconds per project_to_depth call."""
    project_to_depth(points, T, K, size)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        project_to_depth(points, T, K, size)
        times.append((time.perf_counter() - t) * 1e3)
    return times


def main(argv: list[str] | None = None) -> int:
    """Print the numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("date_dir", nargs="?", type=Path)
    parser.add_argument("--drive", default="0005")
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args(argv)
    K = np.array([[721.5377, 0, 609.5593], [0, 721.5377, 172.854], [0, 0, 1]])
    T = np.array([[0, -1, 0, 0.06], [0, 0, -1, -0.08], [1, 0, 0, -0.27], [0, 0, 0, 1.0]])
    points, size = _random_scan(), (375, 1242)
    drive = None
    if args.date_dir is not None:
        drive = RawDrive(args.date_dir, args.drive)
        f0 = drive.velodyne_frames[0]
        points, T, K = drive.load_velodyne(f0), drive.calib.T_cam_velo(2), drive.calib.K(2)
    ms = bench_projection(points, T, K, size, args.repeat)
    print(f"project_to_depth: {len(points):,} points -> {size[1]}x{size[0]}: median "
          f"{statistics.median(ms):.2f} ms, min {min(ms):.2f} ms ({args.repeat} runs)")
    if drive is None:
        return 0
    frames = plan_frames(drive)
    for storage in ("mcap", "sqlite3"):
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            write_bag(frames, Path(tmp) / "bag", storage=storage)
            dt = time.perf_counter() - t
        print(f"kitti2bag ({storage}): {len(frames)} frames in {dt:.2f} s = "
              f"{len(frames) / dt:.1f} frames/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
