"""Domain randomization of a synthetic drive: the camera's lens and mounting, image formation.

A :class:`Randomization` is drawn once per drive (``synth-drive --randomize``). It changes
what a training set must vary so that a network does not learn one car's camera:

* **lens**: focal length x U(0.7, 1.4) and a shifted principal point (the image stays
  1242x375, so a longer lens sees a narrower view);
* **mounting**: camera height -0.8..+0.5 m around KITTI's 1.65 m, pitch ±4°, roll ±3°,
  yaw ±8° (a yawed camera sees the street as on a bend);
* **image formation**: exposure gain, white balance, sensor noise, optical blur.

The drive then writes calibration files that describe exactly this camera (``P_rect_02`` and
the Velodyne -> camera transform), so every reader -- ``RawDrive``, ``kitti2bag``, training's
focal normalization, the lidar projection -- sees the camera the images were rendered with.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, ImageFilter

from depthnet_nano_ros.kitti.calib import rigid
from depthnet_nano_ros.kitti.synth.camera import CALIB_FILES, SynthCamera, calib_entry

__all__ = ["Randomization"]


def _rot(axis: int, deg: float) -> np.ndarray:
    """Rotation by `deg` about camera axis 0 (x, right), 1 (y, down) or 2 (z, forward)."""
    c, s = np.cos(np.deg2rad(deg)), np.sin(np.deg2rad(deg))
    i, j = [k for k in range(3) if k != axis]
    r = np.eye(3)
    r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
    return r


def _fmt(values: np.ndarray) -> str:
    return " ".join(f"{float(v):.6e}" for v in np.ravel(values))


def _replace_line(text: str, key: str, values: np.ndarray) -> str:
    """`text` with the line `key: ...` holding `values` instead."""
    lines = text.splitlines(keepends=True)
    hit = [n for n, line in enumerate(lines) if line.startswith(f"{key}:")]
    if len(hit) != 1:
        raise ValueError(f"calibration text has {len(hit)} '{key}:' lines, expected one")
    lines[hit[0]] = f"{key}: {_fmt(values)}\n"
    return "".join(lines)


@dataclass(frozen=True)
class Randomization:
    """One drive's camera and image-formation changes (the defaults change nothing)."""

    focal_scale: float = 1.0
    principal_shift: tuple[float, float] = (0.0, 0.0)  #: (dcx, dcy) px
    height_m: float = 0.0     #: camera raised (+) or lowered (-) from KITTI's mounting
    pitch_deg: float = 0.0    #: + looks down
    roll_deg: float = 0.0
    yaw_deg: float = 0.0      #: + looks left
    gain: float = 1.0         #: exposure multiplier on linear intensities
    white_balance: tuple[float, float, float] = (1.0, 1.0, 1.0)
    noise_sigma: float = 0.0  #: extra sensor noise, grey levels
    blur_sigma: float = 0.0   #: Gaussian optical blur, px

    @classmethod
    def draw(cls, rng: np.random.Generator) -> Randomization:
        """A random camera and look (module doc for the ranges)."""
        return cls(
            focal_scale=float(np.exp(rng.uniform(np.log(0.7), np.log(1.4)))),
            principal_shift=(float(rng.uniform(-40, 40)), float(rng.uniform(-25, 25))),
            height_m=float(rng.uniform(-0.8, 0.5)),
            pitch_deg=float(rng.uniform(-4, 4)), roll_deg=float(rng.uniform(-3, 3)),
            yaw_deg=float(rng.uniform(-8, 8)),
            gain=float(np.exp(rng.uniform(np.log(0.6), np.log(1.5)))),
            white_balance=tuple(float(v) for v in rng.uniform(0.9, 1.1, 3)),
            noise_sigma=float(rng.uniform(0, 6)) if rng.random() < 0.6 else 0.0,
            blur_sigma=float(rng.uniform(0.3, 1.3)) if rng.random() < 0.4 else 0.0,
        )

    def camera(self, base: SynthCamera) -> SynthCamera:
        """`base` with this lens and mounting (the camera centre moves, the lidar does not)."""
        k = base.K.copy()
        k[0, 0] *= self.focal_scale
        k[1, 1] *= self.focal_scale
        k[0, 2] += self.principal_shift[0]
        k[1, 2] += self.principal_shift[1]
        # new camera axes in the old camera frame; its centre moved up (camera -y) by height_m
        axes = _rot(1, -self.yaw_deg) @ _rot(0, -self.pitch_deg) @ _rot(2, self.roll_deg)
        centre = np.array([0.0, -self.height_m, 0.0])
        delta = rigid(axes.T, -axes.T @ centre)
        return replace(base, K=k, T_cam_velo=delta @ base.T_cam_velo)

    def calib_files(self, base: SynthCamera) -> dict[str, str]:
        """KITTI calibration texts that describe :meth:`camera` of `base`."""
        camera = self.camera(base)
        cam, velo = CALIB_FILES["calib_cam_to_cam.txt"], CALIB_FILES["calib_velo_to_cam.txt"]
        p_rect = calib_entry(cam, "P_rect_02", (3, 4))
        shift = np.linalg.solve(p_rect[:, :3], p_rect[:, 3])  # camera 2's offset from camera 0
        r_rect = rigid(calib_entry(cam, "R_rect_00", (3, 3)), np.zeros(3))
        t_cam0_velo = np.linalg.inv(r_rect) @ rigid(np.eye(3), -shift) @ camera.T_cam_velo
        p_new = np.column_stack([camera.K, camera.K @ shift])
        files = dict(CALIB_FILES)
        files["calib_cam_to_cam.txt"] = _replace_line(cam, "P_rect_02", p_new)
        velo = _replace_line(velo, "R", t_cam0_velo[:3, :3])
        files["calib_velo_to_cam.txt"] = _replace_line(velo, "T", t_cam0_velo[:3, 3])
        return files

    def look(self, rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The rendered HxWx3 uint8 image through this exposure, white balance, blur, noise."""
        x = (rgb.astype(np.float32) / 255.0) ** 2.2  # back to linear light
        x *= np.float32(self.gain) * np.asarray(self.white_balance, np.float32)
        x = np.clip(x, 0.0, 1.0) ** (1 / 2.2) * 255.0
        if self.blur_sigma > 0:
            img = Image.fromarray(np.clip(x + 0.5, 0, 255).astype(np.uint8))
            x = np.asarray(img.filter(ImageFilter.GaussianBlur(self.blur_sigma)), np.float32)
        if self.noise_sigma > 0:
            x = x + rng.normal(0.0, self.noise_sigma, x.shape).astype(np.float32)
        return np.clip(x + 0.5, 0, 255).astype(np.uint8)
