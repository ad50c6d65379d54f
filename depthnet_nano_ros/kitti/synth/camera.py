"""The KITTI 2011_09_26 calibration the synthetic drive is rendered with and writes out.

The three texts below are byte-for-byte the calibration files KITTI ships for 2011_09_26;
the renderer derives its camera model from these same numbers, so files and images agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from depthnet_nano_ros.kitti.calib import rigid

DATE = "2011_09_26"
IMAGE_SIZE = (375, 1242)  #: (H, W) of the rectified camera-2 image (S_rect_02)
VELO_HEIGHT_M = 1.73  #: height of the Velodyne above the road (KITTI's mounting)

CAM_TO_CAM = (
    'calib_time: 09-Jan-2012 13:57:47\n'
    'corner_dist: 9.950000e-02\n'
    'S_00: 1.392000e+03 5.120000e+02\n'
    'K_00: 9.842439e+02 0.000000e+00 6.900000e+02 0.000000e+00 9.808141e+02 '
    '2.331966e+02 0.000000e+00 0.000000e+00 1.000000e+00\n'
    'D_00: -3.728755e-01 2.037299e-01 2.219027e-03 1.383707e-03 -7.233722e-02\n'
    'R_00: 1.000000e+00 0.000000e+00 0.000000e+00 0.000000e+00 1.000000e+00 '
    '0.000000e+00 0.000000e+00 0.000000e+00 1.000000e+00\n'
    'T_00: 2.573699e-16 -1.059758e-16 1.614870e-16\n'
    'S_rect_00: 1.242000e+03 3.750000e+02\n'
    'R_rect_00: 9.999239e-01 9.837760e-03 -7.445048e-03 -9.869795e-03 9.999421e-01 '
    '-4.278459e-03 7.402527e-03 4.351614e-03 9.999631e-01\n'
    'P_rect_00: 7.215377e+02 0.000000e+00 6.095593e+02 0.000000e+00 0.000000e+00 '
    '7.215377e+02 1.728540e+02 0.000000e+00 0.000000e+00 0.000000e+00 1.000000e+00 '
    '0.000000e+00\n'
    'S_01: 1.392000e+03 5.120000e+02\n'
    'K_01: 9.895267e+02 0.000000e+00 7.020000e+02 0.000000e+00 9.878386e+02 '
    '2.455590e+02 0.000000e+00 0.000000e+00 1.000000e+00\n'
    'D_01: -3.644661e-01 1.790019e-01 1.148107e-03 -6.298563e-04 -5.314062e-02\n'
    'R_01: 9.993513e-01 1.860866e-02 -3.083487e-02 -1.887662e-02 9.997863e-01 '
    '-8.421873e-03 3.067156e-02 8.998467e-03 9.994890e-01\n'
    'T_01: -5.370000e-01 4.822061e-03 -1.252488e-02\n'
    'S_rect_01: 1.242000e+03 3.750000e+02\n'
    'R_rect_01: 9.996878e-01 -8.976826e-03 2.331651e-02 8.876121e-03 9.999508e-01 '
    '4.418952e-03 -2.335503e-02 -4.210612e-03 9.997184e-01\n'
    'P_rect_01: 7.215377e+02 0.000000e+00 6.095593e+02 -3.875744e+02 0.000000e+00 '
    '7.215377e+02 1.728540e+02 0.000000e+00 0.000000e+00 0.000000e+00 1.000000e+00 '
    '0.000000e+00\n'
    'S_02: 1.392000e+03 5.120000e+02\n'
    'K_02: 9.597910e+02 0.000000e+00 6.960217e+02 0.000000e+00 9.569251e+02 '
    '2.241806e+02 0.000000e+00 0.000000e+00 1.000000e+00\n'
    'D_02: -3.691481e-01 1.968681e-01 1.353473e-03 5.677587e-04 -6.770705e-02\n'
    'R_02: 9.999758e-01 -5.267463e-03 -4.552439e-03 5.251945e-03 9.999804e-01 '
    '-3.413835e-03 4.570332e-03 3.389843e-03 9.999838e-01\n'
    'T_02: 5.956621e-02 2.900141e-04 2.577209e-03\n'
    'S_rect_02: 1.242000e+03 3.750000e+02\n'
    'R_rect_02: 9.998817e-01 1.511453e-02 -2.841595e-03 -1.511724e-02 9.998853e-01 '
    '-9.338510e-04 2.827154e-03 9.766976e-04 9.999955e-01\n'
    'P_rect_02: 7.215377e+02 0.000000e+00 6.095593e+02 4.485728e+01 0.000000e+00 '
    '7.215377e+02 1.728540e+02 2.163791e-01 0.000000e+00 0.000000e+00 1.000000e+00 '
    '2.745884e-03\n'
    'S_03: 1.392000e+03 5.120000e+02\n'
    'K_03: 9.037596e+02 0.000000e+00 6.957519e+02 0.000000e+00 9.019653e+02 '
    '2.242509e+02 0.000000e+00 0.000000e+00 1.000000e+00\n'
    'D_03: -3.639558e-01 1.788651e-01 6.029694e-04 -3.922424e-04 -5.382460e-02\n'
    'R_03: 9.995599e-01 1.699522e-02 -2.431313e-02 -1.704422e-02 9.998531e-01 '
    '-1.809756e-03 2.427880e-02 2.223358e-03 9.997028e-01\n'
    'T_03: -4.731050e-01 5.551470e-03 -5.250882e-03\n'
    'S_rect_03: 1.242000e+03 3.750000e+02\n'
    'R_rect_03: 9.998321e-01 -7.193136e-03 1.685599e-02 7.232804e-03 9.999712e-01 '
    '-2.293585e-03 -1.683901e-02 2.415116e-03 9.998553e-01\n'
    'P_rect_03: 7.215377e+02 0.000000e+00 6.095593e+02 -3.395242e+02 0.000000e+00 '
    '7.215377e+02 1.728540e+02 2.199936e+00 0.000000e+00 0.000000e+00 1.000000e+00 '
    '2.729905e-03\n'
)
VELO_TO_CAM = (
    'calib_time: 15-Mar-2012 11:37:16\n'
    'R: 7.533745e-03 -9.999714e-01 -6.166020e-04 1.480249e-02 7.280733e-04 '
    '-9.998902e-01 9.998621e-01 7.523790e-03 1.480755e-02\n'
    'T: -4.069766e-03 -7.631618e-02 -2.717806e-01\n'
    'delta_f: 0.000000e+00 0.000000e+00\n'
    'delta_c: 0.000000e+00 0.000000e+00\n'
)
IMU_TO_VELO = (
    'calib_time: 25-May-2012 16:47:16\n'
    'R: 9.999976e-01 7.553071e-04 -2.035826e-03 -7.854027e-04 9.998898e-01 '
    '-1.482298e-02 2.024406e-03 1.482454e-02 9.998881e-01\n'
    'T: -8.086759e-01 3.195559e-01 -7.997231e-01\n'
)

#: file name -> exact contents, as written into OUT/2011_09_26/
CALIB_FILES: dict[str, str] = {
    "calib_cam_to_cam.txt": "".join(CAM_TO_CAM),
    "calib_velo_to_cam.txt": "".join(VELO_TO_CAM),
    "calib_imu_to_velo.txt": "".join(IMU_TO_VELO),
}


def calib_entry(text: str, key: str, shape: tuple[int, int]) -> np.ndarray:
    """The matrix stored under `key` in a KITTI calibration text."""
    for line in text.splitlines():
        name, _, values = line.partition(":")
        if name == key:
            return np.array(values.split(), dtype=np.float64).reshape(shape)
    raise KeyError(key)


@dataclass(frozen=True)
class SynthCamera:
    """Camera 2 (rectified) and its pose relative to the Velodyne, from the texts above."""

    K: np.ndarray  #: 3x3 intrinsics, P_rect_02[:, :3]
    T_cam_velo: np.ndarray  #: 4x4 velodyne -> rectified camera-2 frame
    T_imu_velo: np.ndarray  #: 4x4 velodyne -> IMU (oxts) frame
    size: tuple[int, int] = IMAGE_SIZE

    @classmethod
    def kitti_2011_09_26(cls) -> SynthCamera:
        """The camera model of KITTI's 2011_09_26 calibration."""
        return cls.from_calib_files(CALIB_FILES)

    @classmethod
    def from_calib_files(cls, files: dict[str, str]) -> SynthCamera:
        """The camera model implied by P_rect_02 . R_rect_00 . T_velo->cam0 of these texts."""
        cam = files["calib_cam_to_cam.txt"]
        velo = files["calib_velo_to_cam.txt"]
        imu = files["calib_imu_to_velo.txt"]
        p_rect = calib_entry(cam, "P_rect_02", (3, 4))
        k = p_rect[:, :3]
        shift = rigid(np.eye(3), np.linalg.solve(k, p_rect[:, 3]))
        r_rect = rigid(calib_entry(cam, "R_rect_00", (3, 3)), np.zeros(3))
        t_cam0_velo = rigid(calib_entry(velo, "R", (3, 3)), calib_entry(velo, "T", (3, 1)))
        t_velo_imu = rigid(calib_entry(imu, "R", (3, 3)), calib_entry(imu, "T", (3, 1)))
        return cls(K=k, T_cam_velo=shift @ r_rect @ t_cam0_velo,
                   T_imu_velo=np.linalg.inv(t_velo_imu))

    def pixel_rays(self) -> tuple[np.ndarray, np.ndarray]:
        """Origin (3,) and HxWx3 directions in the velodyne frame of the pixel-centre rays.

        Pixel (row i, column j) has its centre at image coordinates (u, v) = (j, i); the point
        ``origin + t * dir`` lies at camera depth (z) exactly ``t``.
        """
        h, w = self.size
        a_inv = np.linalg.inv(self.T_cam_velo[:3, :3])
        origin = -a_inv @ self.T_cam_velo[:3, 3]
        v, u = np.mgrid[0:h, 0:w].astype(np.float64)
        pix = np.stack([u, v, np.ones_like(u)], axis=-1)
        cam = pix @ np.linalg.inv(self.K).T
        return origin, cam @ a_inv.T

    def project(self, points_velo: np.ndarray) -> np.ndarray:
        """Nx3 velodyne points -> Nx3 (u, v, camera z)."""
        cam = points_velo[:, :3] @ self.T_cam_velo[:3, :3].T + self.T_cam_velo[:3, 3]
        uv = cam @ self.K.T
        return np.column_stack([uv[:, 0] / uv[:, 2], uv[:, 1] / uv[:, 2], cam[:, 2]])
