"""Low-level KITTI file readers shared by the raw, object and depth-benchmark layouts."""

from __future__ import annotations

import calendar
import re
import time
from pathlib import Path

import numpy as np
from PIL import Image

from depthnet_nano_ros import fileio
from depthnet_nano_ros.kitti.errors import KittiError

_STAMP_RE = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?$")


def require_file(path: Path, what: str) -> Path:
    """`path` if it is a file, else a KittiError naming it."""
    if not path.is_file():
        raise KittiError(f"missing {what}: {path} does not exist (check the KITTI folder layout)")
    return path


def read_velodyne(path: Path) -> np.ndarray:
    """A Velodyne scan `.bin` as an Nx4 float32 array (x, y, z, reflectance)."""
    require_file(path, "Velodyne scan")
    size = path.stat().st_size
    if size % 16:
        raise KittiError(
            f"truncated Velodyne scan {path}: {size} bytes is not a multiple of 16 "
            "(4 float32 per point); re-extract or re-download the file")
    return np.fromfile(path, dtype="<f4").reshape(-1, 4)


def read_rgb(path: Path) -> np.ndarray:
    """A PNG as an HxWx3 RGB uint8 array (grey images are replicated to 3 channels)."""
    require_file(path, "image")
    try:
        return fileio.read_rgb(path)
    except OSError as exc:
        raise KittiError(f"cannot decode image {path}: {exc} (re-extract the file)") from exc


def image_size(path: Path) -> tuple[int, int]:
    """(height, width) of an image, from its header only."""
    require_file(path, "image")
    try:
        with Image.open(path) as img:
            return img.height, img.width
    except OSError as exc:
        raise KittiError(f"cannot decode image {path}: {exc} (re-extract the file)") from exc


def parse_timestamp_ns(text: str) -> int:
    """KITTI's 'YYYY-MM-DD HH:MM:SS.fffffffff' as integer nanoseconds since the epoch (UTC)."""
    m = _STAMP_RE.match(text.strip())
    if m is None:
        raise ValueError(f"not a KITTI timestamp: {text!r}")
    seconds = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S"))
    frac = (m.group(2) or "").ljust(9, "0")
    return seconds * 1_000_000_000 + int(frac)


def read_timestamps(path: Path) -> list[str]:
    """The lines of a timestamps.txt (line i = frame i); empty trailing lines dropped."""
    require_file(path, "timestamps file")
    lines = path.read_text().splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def timestamp_at(path: Path, lines: list[str], index: int) -> int:
    """Nanosecond stamp of frame `index` (line `index`), or a KittiError naming the file."""
    if not 0 <= index < len(lines) or not lines[index].strip():
        raise KittiError(
            f"no timestamp for frame {index} in {path}: the file has {len(lines)} lines "
            "(line i is frame i; restore the original timestamps.txt)")
    try:
        return parse_timestamp_ns(lines[index])
    except ValueError as exc:
        raise KittiError(f"bad timestamp on line {index + 1} of {path}: {exc}") from exc


def read_key_values(path: Path, what: str) -> dict[str, np.ndarray]:
    """A KITTI 'key: numbers' calibration file; non-numeric entries (calib_time) are skipped."""
    require_file(path, what)
    out: dict[str, np.ndarray] = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        try:
            out[key.strip()] = np.array([float(v) for v in value.split()], dtype=np.float64)
        except ValueError:
            continue
    return out
