"""KITTI depth-benchmark depth PNGs: uint16, metres = value / 256, 0 = invalid."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from depthnet_nano_ros.kitti.errors import KittiError
from depthnet_nano_ros.kitti.files import require_file

__all__ = ["annotated_depth_path", "load_depth_png", "save_depth_png"]

#: PNG value per metre in the depth-benchmark format
SCALE = 256.0


def annotated_depth_path(drive_dir: str | Path, i: int, cam: int = 2,
                         kind: str = "groundtruth") -> Path:
    """`<drive>_sync/proj_depth/<kind>/image_0<cam>/NNNNNNNNNN.png` (kind: groundtruth, ...)."""
    return Path(drive_dir) / "proj_depth" / kind / f"image_0{cam}" / f"{i:010d}.png"


def load_depth_png(path: str | Path) -> np.ndarray:
    """A depth-benchmark PNG as HxW float32 metres (0 where invalid)."""
    path = require_file(Path(path), "depth PNG")
    try:
        with Image.open(path) as img:
            if img.mode not in ("I;16", "I;16B", "I"):
                raise KittiError(f"{path} is a {img.mode!r} PNG, not 16-bit: the KITTI depth "
                                 "format is uint16 with metres = value / 256")
            raw = np.asarray(img)
    except OSError as exc:
        raise KittiError(f"cannot decode depth PNG {path}: {exc}") from exc
    return (raw.astype(np.float32) / np.float32(SCALE)).astype(np.float32)


def save_depth_png(path: str | Path, depth: np.ndarray) -> None:
    """Write HxW metres as a depth-benchmark PNG (NaN / <= 0 -> 0), atomically."""
    depth = np.asarray(depth, dtype=np.float64)
    if depth.ndim != 2:
        raise KittiError(f"depth to save must be HxW, got shape {depth.shape}")
    value = np.where(np.isfinite(depth) & (depth > 0), np.round(depth * SCALE), 0)
    value = np.clip(value, 0, 65535).astype(np.uint16)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        Image.fromarray(value).save(tmp, format="PNG")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
