"""A synthetic drive: one random street, the ego trajectory, and per-frame image + lidar scan."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from depthnet_nano_ros.kitti.synth.actors import add_actors
from depthnet_nano_ros.kitti.synth.camera import CALIB_FILES, VELO_HEIGHT_M, SynthCamera
from depthnet_nano_ros.kitti.synth.errors import SynthDriveError
from depthnet_nano_ros.kitti.synth.lidar import LidarScan, Velodyne
from depthnet_nano_ros.kitti.synth.randomize import Randomization
from depthnet_nano_ros.kitti.synth.raycast import FrameGeometry, frame_geometry
from depthnet_nano_ros.kitti.synth.render import CameraFrame, Renderer
from depthnet_nano_ros.kitti.synth.scene import Scene, generate_scene, prim_tables

FRAME_PERIOD_S = 0.1    #: 10 Hz, like KITTI
CAMERA_VIEW_M = 260.0   #: geometry further ahead than this is not drawn
BEHIND_M = 130.0        #: the street starts this far behind the first frame


@dataclass
class SynthFrame:
    """Everything about one frame of the drive."""

    index: int
    time_s: float               #: seconds since the first frame
    velo_position: np.ndarray   #: (3,) Velodyne origin in the world (axes = Velodyne axes)
    speed: float                #: forward speed (m/s)
    accel: float                #: forward acceleration (m/s^2)
    camera: CameraFrame
    lidar: LidarScan | None     #: None when rendered with ``lidar=False``


def check_frame_count(frames: int) -> None:
    """A SynthDriveError unless `frames` >= 1."""
    if frames < 1:
        raise SynthDriveError(f"--frames must be at least 1, got {frames}")


class SynthDrive:
    """The ego drives along +x at about 10 m/s; everything depends only on `seed` (a longer
    drive extends a shorter one with the same seed). `randomize` draws the camera, the look
    and extra actors for domain randomization (``synth.randomize``, ``synth.actors``); the
    calibration texts of the drive are then :attr:`calib_files`."""

    def __init__(self, frames: int, seed: int = 0, randomize: bool = False) -> None:
        check_frame_count(frames)
        self.n_frames = int(frames)
        self.seed = int(seed)
        scene_ss, motion_ss, look_ss, random_ss = np.random.SeedSequence(seed).spawn(4)
        self.randomization = (Randomization.draw(np.random.default_rng(random_ss))
                              if randomize else None)
        motion = np.random.default_rng(motion_ss)
        t = np.arange(self.n_frames) * FRAME_PERIOD_S
        v0, amp = motion.uniform(8.0, 12.0), motion.uniform(0.0, 0.2)
        period, phase = motion.uniform(6.0, 15.0), motion.uniform(0, 2 * np.pi)
        w = 2 * np.pi / period
        self.speed = v0 * (1 + amp * np.sin(w * t + phase))
        self.accel = v0 * amp * w * np.cos(w * t + phase)
        x = v0 * t - v0 * amp / w * (np.cos(w * t + phase) - np.cos(phase))
        self.positions = np.column_stack([x, np.zeros_like(x), np.full_like(x, VELO_HEIGHT_M)])
        duration = self.n_frames * FRAME_PERIOD_S
        self.scene: Scene = generate_scene(int(scene_ss.generate_state(1)[0]), -BEHIND_M,
                                           float(x[-1]) + CAMERA_VIEW_M + 10.0, duration,
                                           ego_speed=float(v0),
                                           extras=add_actors if randomize else None)
        self.tables = prim_tables(self.scene)
        self.calib_files = CALIB_FILES
        if self.randomization is not None:
            self.calib_files = self.randomization.calib_files(SynthCamera.kitti_2011_09_26())
        self.camera = SynthCamera.from_calib_files(self.calib_files)  # exactly what is written
        self.renderer = Renderer(self.camera, int(look_ss.generate_state(1)[0]))
        self.velodyne = Velodyne()

    def camera_geometry(self, i: int) -> FrameGeometry:
        """The scene at frame `i` relative to the camera centre (for :meth:`Renderer.depth_at`)."""
        origin = self.positions[i] + self.renderer.offset
        return frame_geometry(self.scene, origin, i * FRAME_PERIOD_S, 1.0, CAMERA_VIEW_M)

    def frame(self, i: int, lidar: bool = True) -> SynthFrame:
        """Render frame `i`: camera image + exact depth, and the lidar scan at the same instant."""
        if not 0 <= i < self.n_frames:
            raise IndexError(f"frame {i} outside 0..{self.n_frames - 1}")
        t = i * FRAME_PERIOD_S
        velo = self.positions[i]
        cam_geom = self.camera_geometry(i)
        seed = int(np.random.SeedSequence([self.seed, i]).generate_state(1)[0])
        cam = self.renderer.render(self.scene, self.tables, cam_geom, seed)
        if self.randomization is not None:
            cam.rgb = self.randomization.look(cam.rgb, np.random.default_rng([seed, 1]))
        scan = None
        if lidar:
            r = self.velodyne.max_range + 1.0
            scan = self.velodyne.scan(self.scene, self.tables,
                                      frame_geometry(self.scene, velo, t, r, r),
                                      self.renderer.tile)
        return SynthFrame(i, t, velo.copy(), float(self.speed[i]), float(self.accel[i]), cam, scan)
