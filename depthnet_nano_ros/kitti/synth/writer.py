"""Write a :class:`SynthDrive` in the KITTI raw layout (plus exact depth), atomically."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from depthnet_nano_ros.kitti.annotated import SCALE, save_depth_png
from depthnet_nano_ros.kitti.synth.camera import DATE
from depthnet_nano_ros.kitti.synth.drive import (
    FRAME_PERIOD_S,
    SynthDrive,
    SynthFrame,
    check_frame_count,
)
from depthnet_nano_ros.kitti.synth.errors import SynthDriveError
from depthnet_nano_ros.kitti.synth.oxts import OXTS_DATAFORMAT, T0_NS, kitti_timestamp, oxts_record

DRIVE = "9000"
DRIVE_NAME = f"{DATE}_drive_{DRIVE}_sync"
MAX_DEPTH_M = 65535 / SCALE  #: deepest value a depth PNG can hold; farther ground is stored as 0
SCAN_HALF_PERIOD_NS = 50_000_000  #: velodyne timestamps_start/end = stamp -/+ half a revolution


@dataclass
class WriteSummary:
    """What :func:`write_drive` produced and how fast."""

    drive_dir: Path
    frames: int
    seconds: float       #: wall-clock time
    cpu_seconds: float   #: CPU time of this process (what a free core would take)

    @property
    def frames_per_second(self) -> float:
        """End-to-end wall-clock throughput: rendering, lidar scan and file writing."""
        return self.frames / self.seconds if self.seconds > 0 else float("inf")

    @property
    def frames_per_cpu_second(self) -> float:
        """Throughput per CPU second (insensitive to other load on the machine)."""
        return self.frames / self.cpu_seconds if self.cpu_seconds > 0 else float("inf")


def drive_dir(out: str | Path) -> Path:
    """`OUT/2011_09_26/2011_09_26_drive_9000_sync`."""
    return Path(out) / DATE / DRIVE_NAME


def _check_out(out: Path, overwrite: bool) -> None:
    """A SynthDriveError if `out` cannot receive the drive."""
    if out.exists() and not out.is_dir():
        raise SynthDriveError(f"output {out} exists and is not a folder; pass a folder path")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise SynthDriveError(f"output folder {out} is not empty; choose an empty or new folder, "
                              f"or pass --overwrite to replace {out / DATE}")


def _write_frame(drive: Path, frame: SynthFrame) -> None:
    """Image, scan (when rendered) and exact depth of one frame."""
    name = f"{frame.index:010d}"
    Image.fromarray(frame.camera.rgb).save(drive / "image_02" / "data" / f"{name}.png",
                                           compress_level=1)
    if frame.lidar is not None:
        frame.lidar.points.astype("<f4").tofile(drive / "velodyne_points" / "data" /
                                                f"{name}.bin")
    depth = np.where(frame.camera.depth * SCALE < 65535.5, frame.camera.depth, 0.0)
    save_depth_png(drive / "proj_depth" / "exact" / "image_02" / f"{name}.png", depth)


def _write_text(path: Path, lines: list[str]) -> None:
    """Write lines, each ending in a newline."""
    path.write_text("".join(line if line.endswith("\n") else line + "\n" for line in lines))


def write_drive(out: str | Path, frames: int, seed: int = 0, overwrite: bool = False,
                progress: Callable[[int, int], None] | None = None, randomize: bool = False,
                lidar: bool = True) -> WriteSummary:
    """Render `frames` frames of the drive for `seed` into `out` in the KITTI raw layout.

    Everything is written below a temporary folder next to `out` and moved into place at the
    end, so `out` never holds a half-written drive. `randomize`: domain-randomized camera, look
    and actors, with calibration files to match (``SynthDrive``); `lidar=False` writes no
    velodyne_points (a training set with exact depth needs none: 6x smaller, 2x faster).
    """
    out = Path(out)
    check_frame_count(frames)
    _check_out(out, overwrite)
    start, cpu_start = time.perf_counter(), time.process_time()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.synth-", dir=out.parent))
    try:
        date_dir = tmp / DATE
        drive = date_dir / DRIVE_NAME
        for sub in ("image_02/data", "oxts/data", "proj_depth/exact/image_02",
                    *(("velodyne_points/data",) if lidar else ())):
            (drive / sub).mkdir(parents=True)
        synth = SynthDrive(frames, seed, randomize=randomize)
        for name, text in synth.calib_files.items():
            (date_dir / name).write_text(text)
        imu_offset = np.linalg.inv(synth.camera.T_imu_velo)[:3, 3]  # IMU origin, velodyne frame
        stamps = [T0_NS + round(i * FRAME_PERIOD_S * 1e9) for i in range(frames)]
        for i in range(frames):
            frame = synth.frame(i, lidar=lidar)
            _write_frame(drive, frame)
            _write_text(drive / "oxts" / "data" / f"{i:010d}.txt",
                        [oxts_record(frame.velo_position + imu_offset, frame.speed, frame.accel)])
            if progress is not None:
                progress(i + 1, frames)
        for sensor in ("image_02", "oxts", *(("velodyne_points",) if lidar else ())):
            _write_text(drive / sensor / "timestamps.txt", [kitti_timestamp(s) for s in stamps])
        for suffix, sign in (("start", -1), ("end", 1)) if lidar else ():
            _write_text(drive / "velodyne_points" / f"timestamps_{suffix}.txt",
                        [kitti_timestamp(s + sign * SCAN_HALF_PERIOD_NS) for s in stamps])
        (drive / "oxts" / "dataformat.txt").write_text("".join(OXTS_DATAFORMAT))
        _move_into_place(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return WriteSummary(drive_dir(out), frames, time.perf_counter() - start,
                        time.process_time() - cpu_start)


def _move_into_place(tmp: Path, out: Path) -> None:
    """Rename the finished tree to `out` (new) or swap it for `out/2011_09_26` (existing)."""
    if not out.exists():
        tmp.rename(out)
        return
    target = out / DATE
    if target.exists():
        target.rename(tmp / ".replaced")  # removed with tmp
    (tmp / DATE).rename(target)
