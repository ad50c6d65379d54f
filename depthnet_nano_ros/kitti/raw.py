"""KITTI raw ("synced + rectified") drive reader: images, Velodyne scans, OXTS and timestamps."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np

from depthnet_nano_ros.kitti.calib import RawCalibration, load_raw_calibration
from depthnet_nano_ros.kitti.errors import KittiError
from depthnet_nano_ros.kitti.files import (
    image_size,
    read_rgb,
    read_timestamps,
    read_velodyne,
    require_file,
    timestamp_at,
)

__all__ = ["RawDrive", "SENSORS"]

#: sensor name -> folder inside the drive ("image" / "velodyne" are aliases)
SENSORS = ("image_00", "image_01", "image_02", "image_03", "velodyne_points", "oxts")


class RawDrive:
    """One drive `DATE_DIR/<date>_drive_<drive>_sync`; frame i is file NNNNNNNNNN (i, 10 digits)."""

    def __init__(self, date_dir: str | Path, drive: str = "0005", camera: int = 2) -> None:
        self.date_dir = Path(date_dir)
        if not self.date_dir.is_dir():
            raise KittiError(f"KITTI date folder {self.date_dir} does not exist (pass e.g. "
                             ".../2011_09_26, the folder holding calib_cam_to_cam.txt)")
        drive = str(drive)
        name = drive if drive.endswith("_sync") else f"{self.date_dir.name}_drive_{drive}_sync"
        self.drive_dir = self.date_dir / name
        if not self.drive_dir.is_dir():
            found = sorted(p.name for p in self.date_dir.glob("*_drive_*"))
            raise KittiError(f"drive folder {self.drive_dir} does not exist (drives here: "
                             f"{found or 'none'}); pass --drive NNNN")
        self.camera = int(camera)
        self._stamps: dict[str, list[str]] = {}

    def __repr__(self) -> str:
        return f"RawDrive({str(self.drive_dir)!r}, camera={self.camera})"

    @cached_property
    def calib(self) -> RawCalibration:
        """The date's calibration (calib_*.txt in the date folder)."""
        return load_raw_calibration(self.date_dir)

    def calibration(self, i: int | None = None) -> RawCalibration:
        """The calibration valid for frame `i` (the same for every frame of a drive)."""
        return self.calib

    def sensor_dir(self, sensor: str) -> Path:
        """Folder of a sensor: "image_0x", "velodyne_points", "oxts" (or "image", "velodyne")."""
        alias = {"image": f"image_0{self.camera}", "camera": f"image_0{self.camera}",
                 "velodyne": "velodyne_points", "lidar": "velodyne_points"}
        sensor = alias.get(sensor, sensor)
        if sensor not in SENSORS:
            raise KittiError(f"unknown KITTI sensor {sensor!r}; use one of {SENSORS}")
        return self.drive_dir / sensor

    def _frames_of(self, sensor: str, suffix: str) -> list[int]:
        folder = self.sensor_dir(sensor) / "data"
        return sorted(int(p.stem) for p in folder.glob(f"*{suffix}") if p.stem.isdigit())

    @cached_property
    def frames(self) -> list[int]:
        """Frame indices whose image of this drive's camera is on disk (sorted)."""
        return self._frames_of(f"image_0{self.camera}", ".png")

    @cached_property
    def velodyne_frames(self) -> list[int]:
        """Frame indices whose Velodyne scan is on disk (sorted)."""
        return self._frames_of("velodyne_points", ".bin")

    def image_path(self, i: int, cam: int | None = None) -> Path:
        """Path of the PNG of frame `i` of camera `cam` (default: the drive's camera)."""
        cam = self.camera if cam is None else cam
        return self.sensor_dir(f"image_0{cam}") / "data" / f"{i:010d}.png"

    def velodyne_path(self, i: int) -> Path:
        """Path of the Velodyne scan of frame `i`."""
        return self.sensor_dir("velodyne_points") / "data" / f"{i:010d}.bin"

    def load_image(self, i: int, cam: int | None = None) -> np.ndarray:
        """Frame `i` as HxWx3 RGB uint8."""
        return read_rgb(self.image_path(i, cam))

    def image_size(self, i: int, cam: int | None = None) -> tuple[int, int]:
        """(height, width) of frame `i`'s image (header only)."""
        return image_size(self.image_path(i, cam))

    def load_velodyne(self, i: int) -> np.ndarray:
        """Frame `i`'s scan as Nx4 float32 (x, y, z, reflectance) in the Velodyne frame."""
        return read_velodyne(self.velodyne_path(i))

    def load_oxts(self, i: int) -> np.ndarray:
        """Frame `i`'s 30 OXTS values (see oxts/dataformat.txt) as float64."""
        path = require_file(self.sensor_dir("oxts") / "data" / f"{i:010d}.txt", "OXTS record")
        values = np.array(path.read_text().split(), dtype=np.float64)
        if values.size != 30:
            raise KittiError(f"OXTS record {path} has {values.size} values, expected 30")
        return values

    def timestamps_path(self, sensor: str) -> Path:
        """timestamps.txt of a sensor."""
        return self.sensor_dir(sensor) / "timestamps.txt"

    def timestamp_ns(self, i: int, sensor: str = "image") -> int:
        """Stamp of frame `i` of `sensor` in integer ns (UTC): line i of its timestamps.txt."""
        path = self.timestamps_path(sensor)
        key = str(path)
        if key not in self._stamps:
            self._stamps[key] = read_timestamps(path)
        return timestamp_at(path, self._stamps[key], i)
