"""Sparse lidar ground truth for KITTI frames (a thin layer over geometry.lidar_projection)."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from depthnet_nano_ros.geometry.lidar_projection import project_to_depth
from depthnet_nano_ros.kitti.calib import RawCalibration
from depthnet_nano_ros.kitti.errors import KittiError

__all__ = ["frame_sparse_depth", "sparse_depth"]


class FrameSource(Protocol):
    """What RawDrive and ObjectDataset share."""

    def calibration(self, i: int) -> RawCalibration: ...
    def load_velodyne(self, i: int) -> np.ndarray: ...
    def image_size(self, i: int) -> tuple[int, int]: ...


def sparse_depth(drive_or_calib: RawCalibration | object, points: np.ndarray,
                 image_size: tuple[int, int] | None = None, cam: int = 2,
                 depth_mode: str = "camera_z") -> np.ndarray:
    """HxW float32 camera-`cam` depth of Velodyne `points` (0 = no point; nearest wins).

    `drive_or_calib` is a RawCalibration or anything with a `.calib` (a RawDrive). With
    `image_size` None the calibration's S_rect size is used.
    """
    calib = drive_or_calib if isinstance(drive_or_calib, RawCalibration) else \
        getattr(drive_or_calib, "calib", None)
    if not isinstance(calib, RawCalibration):
        raise KittiError(f"sparse_depth needs a RawCalibration or a RawDrive, got "
                         f"{type(drive_or_calib).__name__} (for object frames pass "
                         "dataset.calibration(i))")
    if image_size is None:
        image_size = calib.image_size(cam)
        if image_size is None:
            raise KittiError(f"no S_rect_0{cam} in {calib.source}: pass image_size=(H, W)")
    return project_to_depth(points, calib.T_cam_velo(cam), calib.K(cam), image_size, depth_mode)


def frame_sparse_depth(source: FrameSource, i: int, cam: int = 2,
                       depth_mode: str = "camera_z") -> np.ndarray:
    """Sparse depth of frame `i` of a RawDrive or ObjectDataset at its image's size."""
    return sparse_depth(source.calibration(i), source.load_velodyne(i), source.image_size(i),
                        cam=cam, depth_mode=depth_mode)
