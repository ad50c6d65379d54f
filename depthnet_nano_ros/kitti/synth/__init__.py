"""Synthetic KITTI-format drive: procedural street, HDL-64E lidar, exact depth (`synth-drive`).

:class:`SynthDrive` renders frames in memory; :func:`write_drive` writes them in the KITTI raw
layout with the real 2011_09_26 calibration, plus exact dense depth under
``proj_depth/exact/image_02``.
"""

from depthnet_nano_ros.kitti.synth.camera import CALIB_FILES, SynthCamera
from depthnet_nano_ros.kitti.synth.drive import SynthDrive, SynthFrame
from depthnet_nano_ros.kitti.synth.errors import SynthDriveError
from depthnet_nano_ros.kitti.synth.lidar import ELEVATIONS_DEG, LidarScan, Velodyne
from depthnet_nano_ros.kitti.synth.render import CameraFrame
from depthnet_nano_ros.kitti.synth.writer import (
    DRIVE,
    DRIVE_NAME,
    WriteSummary,
    drive_dir,
    write_drive,
)

__all__ = [
    "CALIB_FILES",
    "DRIVE",
    "DRIVE_NAME",
    "ELEVATIONS_DEG",
    "CameraFrame",
    "LidarScan",
    "SynthCamera",
    "SynthDrive",
    "SynthDriveError",
    "SynthFrame",
    "Velodyne",
    "WriteSummary",
    "drive_dir",
    "write_drive",
]
