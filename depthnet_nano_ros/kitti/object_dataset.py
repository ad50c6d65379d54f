"""KITTI object-dataset layout reader: `<root>/training/{image_2,velodyne,calib}/NNNNNN.*`."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np

from depthnet_nano_ros.kitti.calib import RawCalibration, load_object_calibration
from depthnet_nano_ros.kitti.errors import KittiError
from depthnet_nano_ros.kitti.files import image_size, read_rgb, read_velodyne

__all__ = ["FRAME_PERIOD_NS", "ObjectDataset", "is_object_layout"]

#: synthesized stamps: the object dataset has none, frames are spaced 10 Hz in the order given
FRAME_PERIOD_NS = 100_000_000
#: first synthesized stamp (1 s, not 0: a zero stamp means "latest" to tf2)
FIRST_STAMP_NS = 1_000_000_000


def is_object_layout(path: str | Path) -> bool:
    """True if `path` is (or contains) an object-dataset `training`/`testing` folder."""
    path = Path(path)
    return (path / "image_2").is_dir() or (path / "training" / "image_2").is_dir()


class ObjectDataset:
    """Frames of the KITTI object layout; camera 2 only (image_2), per-frame calibration."""

    def __init__(self, root: str | Path, split: str = "training") -> None:
        root = Path(root)
        self.split_dir = root if (root / "image_2").is_dir() else root / split
        if not (self.split_dir / "image_2").is_dir():
            raise KittiError(f"{root} is not a KITTI object folder: no {split}/image_2 inside "
                             "(pass the folder that holds training/)")
        self.camera = 2

    def __repr__(self) -> str:
        return f"ObjectDataset({str(self.split_dir)!r})"

    @cached_property
    def frames(self) -> list[int]:
        """Frame ids whose image is on disk (sorted)."""
        return sorted(int(p.stem) for p in (self.split_dir / "image_2").glob("*.png")
                      if p.stem.isdigit())

    def image_path(self, i: int) -> Path:
        """training/image_2/NNNNNN.png."""
        return self.split_dir / "image_2" / f"{i:06d}.png"

    def velodyne_path(self, i: int) -> Path:
        """training/velodyne/NNNNNN.bin."""
        return self.split_dir / "velodyne" / f"{i:06d}.bin"

    def calib_path(self, i: int) -> Path:
        """training/calib/NNNNNN.txt."""
        return self.split_dir / "calib" / f"{i:06d}.txt"

    def load_image(self, i: int) -> np.ndarray:
        """Frame `i` as HxWx3 RGB uint8."""
        return read_rgb(self.image_path(i))

    def image_size(self, i: int) -> tuple[int, int]:
        """(height, width) of frame `i` (differs by recording date: 375x1242, 374x1238, ...)."""
        return image_size(self.image_path(i))

    def load_velodyne(self, i: int) -> np.ndarray:
        """Frame `i`'s scan as Nx4 float32 (x, y, z, reflectance)."""
        return read_velodyne(self.velodyne_path(i))

    def calibration(self, i: int) -> RawCalibration:
        """Frame `i`'s calibration (P2, R0_rect, Tr_velo_to_cam)."""
        return load_object_calibration(self.calib_path(i))

    def timestamp_ns(self, i: int, sensor: str = "image") -> int:
        """Synthesized 10 Hz stamp: FIRST_STAMP_NS + position of `i` in `frames` * 100 ms."""
        try:
            position = self.frames.index(i)
        except ValueError:
            raise KittiError(f"object frame {i} is not on disk ({self.image_path(i)})") from None
        return FIRST_STAMP_NS + position * FRAME_PERIOD_NS
