"""KITTI calibration: raw-date files (calib_cam_to_cam/velo_to_cam/imu_to_velo) and object files.

Both give a :class:`RawCalibration` whose ``T_cam_velo(cam)`` maps Velodyne points into the
true rectified frame of camera ``cam`` (so ``K(cam) @ T_cam_velo(cam)[:3]`` equals
``P_rect[cam] @ R_rect_00 @ T_cam0_velo``) -- the frame ``/tf_static`` publishes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from depthnet_nano_ros.kitti.errors import KittiError
from depthnet_nano_ros.kitti.files import read_key_values

__all__ = ["RawCalibration", "load_object_calibration", "load_raw_calibration", "rigid"]


def rigid(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """4x4 homogeneous transform from a 3x3 rotation and a 3-vector translation."""
    T = np.eye(4)
    T[:3, :3] = np.asarray(R, dtype=np.float64).reshape(3, 3)
    T[:3, 3] = np.asarray(t, dtype=np.float64).reshape(3)
    return T


@dataclass
class RawCalibration:
    """Calibration of one KITTI recording date (or one object-dataset frame)."""

    P_rect: dict[int, np.ndarray]           #: cam -> 3x4 rectified projection P_rect_0x
    R_rect_00: np.ndarray                   #: 3x3 rectifying rotation of camera 0
    T_cam0_velo: np.ndarray                 #: 4x4 Velodyne -> unrectified camera 0
    S_rect: dict[int, tuple[int, int]] = field(default_factory=dict)  #: cam -> (W, H) rectified
    K_raw: dict[int, np.ndarray] = field(default_factory=dict)  #: cam -> 3x3 unrectified K_0x
    D_raw: dict[int, np.ndarray] = field(default_factory=dict)  #: cam -> 5 distortion D_0x
    R_rect: dict[int, np.ndarray] = field(default_factory=dict)  #: cam -> 3x3 R_rect_0x
    T_velo_imu: np.ndarray | None = None    #: 4x4 OXTS IMU -> Velodyne (None when absent)
    source: str = ""                        #: where it was read from (for messages)

    def _P(self, cam: int) -> np.ndarray:
        if cam not in self.P_rect:
            raise KittiError(f"no P_rect_0{cam} in {self.source}: cameras available are "
                             f"{sorted(self.P_rect)}")
        return self.P_rect[cam]

    def K(self, cam: int = 2) -> np.ndarray:
        """3x3 intrinsics of rectified camera `cam` (= P_rect[cam][:, :3])."""
        return self._P(cam)[:, :3].copy()

    def T_rect_cam(self, cam: int = 2) -> np.ndarray:
        """4x4 rectified camera 0 -> rectified camera `cam` (translation K^-1 @ P_rect[:, 3])."""
        P = self._P(cam)
        return rigid(np.eye(3), np.linalg.solve(P[:, :3], P[:, 3]))

    def T_cam_velo(self, cam: int = 2) -> np.ndarray:
        """4x4 Velodyne -> rectified camera `cam`: K(cam) @ T[:3] == P_rect @ R_rect_00 @ T_velo."""
        return self.T_rect_cam(cam) @ rigid(self.R_rect_00, np.zeros(3)) @ self.T_cam0_velo

    def projection(self, cam: int = 2) -> np.ndarray:
        """3x4 Velodyne -> pixel matrix P_rect[cam] @ R_rect_00 (4x4) @ T_cam0_velo."""
        return self._P(cam) @ rigid(self.R_rect_00, np.zeros(3)) @ self.T_cam0_velo

    def image_size(self, cam: int = 2) -> tuple[int, int] | None:
        """(height, width) of rectified camera `cam` from S_rect_0x, or None if unknown."""
        if cam not in self.S_rect:
            return None
        w, h = self.S_rect[cam]
        return h, w


def _get(values: dict[str, np.ndarray], key: str, size: int, path: Path) -> np.ndarray:
    if key not in values:
        raise KittiError(f"calibration file {path} has no '{key}:' entry (use the original "
                         "KITTI calibration file)")
    v = values[key]
    if v.size != size:
        raise KittiError(f"'{key}' in {path} has {v.size} numbers, expected {size}")
    return v


def load_raw_calibration(date_dir: str | Path) -> RawCalibration:
    """Read calib_cam_to_cam.txt, calib_velo_to_cam.txt and calib_imu_to_velo.txt of a date."""
    date_dir = Path(date_dir)
    c2c_path = date_dir / "calib_cam_to_cam.txt"
    v2c_path = date_dir / "calib_velo_to_cam.txt"
    i2v_path = date_dir / "calib_imu_to_velo.txt"
    c2c = read_key_values(c2c_path, "camera calibration")
    v2c = read_key_values(v2c_path, "Velodyne-to-camera calibration")
    P_rect, S_rect, K_raw, D_raw, R_rect = {}, {}, {}, {}, {}
    for cam in range(4):
        if f"P_rect_0{cam}" not in c2c:
            continue
        P_rect[cam] = _get(c2c, f"P_rect_0{cam}", 12, c2c_path).reshape(3, 4)
        if f"S_rect_0{cam}" in c2c:
            w, h = _get(c2c, f"S_rect_0{cam}", 2, c2c_path)
            S_rect[cam] = (int(round(w)), int(round(h)))
        if f"K_0{cam}" in c2c:
            K_raw[cam] = _get(c2c, f"K_0{cam}", 9, c2c_path).reshape(3, 3)
        if f"D_0{cam}" in c2c:
            D_raw[cam] = _get(c2c, f"D_0{cam}", 5, c2c_path)
        if f"R_rect_0{cam}" in c2c:
            R_rect[cam] = _get(c2c, f"R_rect_0{cam}", 9, c2c_path).reshape(3, 3)
    if not P_rect:
        raise KittiError(f"calibration file {c2c_path} has no 'P_rect_0x:' entry (use the "
                         "original KITTI calib_cam_to_cam.txt)")
    T_velo_imu = None
    if i2v_path.is_file():
        i2v = read_key_values(i2v_path, "IMU-to-Velodyne calibration")
        T_velo_imu = rigid(_get(i2v, "R", 9, i2v_path), _get(i2v, "T", 3, i2v_path))
    return RawCalibration(
        P_rect=P_rect,
        R_rect_00=_get(c2c, "R_rect_00", 9, c2c_path).reshape(3, 3),
        T_cam0_velo=rigid(_get(v2c, "R", 9, v2c_path), _get(v2c, "T", 3, v2c_path)),
        S_rect=S_rect, K_raw=K_raw, D_raw=D_raw, R_rect=R_rect, T_velo_imu=T_velo_imu,
        source=str(date_dir))


def load_object_calibration(path: str | Path) -> RawCalibration:
    """Read a KITTI object-dataset calib file (P0..P3, R0_rect, Tr_velo_to_cam, Tr_imu_to_velo)."""
    path = Path(path)
    values = read_key_values(path, "object calibration")
    P_rect = {cam: _get(values, f"P{cam}", 12, path).reshape(3, 4)
              for cam in range(4) if f"P{cam}" in values}
    if 2 not in P_rect:
        _get(values, "P2", 12, path)
    Tr = _get(values, "Tr_velo_to_cam", 12, path).reshape(3, 4)
    T_velo_imu = None
    if "Tr_imu_to_velo" in values:
        Ti = _get(values, "Tr_imu_to_velo", 12, path).reshape(3, 4)
        T_velo_imu = rigid(Ti[:, :3], Ti[:, 3])
    return RawCalibration(
        P_rect=P_rect, R_rect_00=_get(values, "R0_rect", 9, path).reshape(3, 3),
        T_cam0_velo=rigid(Tr[:, :3], Tr[:, 3]), T_velo_imu=T_velo_imu, source=str(path))
