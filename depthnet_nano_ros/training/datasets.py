"""Training data: KITTI raw / object frames with lidar, densified, annotated or exact depth.

A data source is a dict (from the YAML config)::

    kind: kitti_raw | kitti_object
    root: folder holding the date folders (kitti_raw) or training/ (kitti_object)
    target: lidar | densified | groundtruth | exact
    split: Eigen-Zhou style list 'date/drive_sync frame side' (optional, kitti_raw)
    drives: [date/drive_sync, ...]          # optional, default: every drive under root
                                            # (also root/*/date/drive_sync: a synth-drive set)
    frames: [start, stop, step] or [i, ...]  # optional, stop inclusive; default: all on disk
    gt_root: folder of <drive>_sync/proj_depth/groundtruth (target groundtruth)
    repeat: 1                                # oversampling factor in a mix

Targets: ``lidar`` = the projected Velodyne scan (sparse); ``densified`` = that scan filled
by :mod:`~depthnet_nano_ros.training.densify` (cached); ``groundtruth`` = KITTI depth-benchmark
annotated maps; ``exact`` = the synthetic drive's exact depth (``proj_depth/exact``).
Images go through ``model.transforms`` (resize + ImageNet normalization) exactly as at inference.

Focal normalization: with a reference focal ``f_ref`` (px at the network input width), every
depth target becomes ``d * f_ref / f_net``, where ``f_net`` is the frame's own focal length once
its image (or its zoom crop) is resized to the input. The network then learns depth for one
camera, and inference rescales it to the user's (``model.focal``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from depthnet_nano_ros.kitti.annotated import annotated_depth_path, load_depth_png
from depthnet_nano_ros.kitti.lidar_gt import frame_sparse_depth
from depthnet_nano_ros.kitti.object_dataset import ObjectDataset
from depthnet_nano_ros.kitti.raw import RawDrive
from depthnet_nano_ros.model.depth_param import depth_to_output
from depthnet_nano_ros.model.transforms import check_input_size, normalize_rgb, resize_rgb
from depthnet_nano_ros.training.augment import AugmentConfig, augment, zoom_crop
from depthnet_nano_ros.training.bag_dataset import BagFrame, bag_frames
from depthnet_nano_ros.training.densify import cached_densify
from depthnet_nano_ros.training.errors import TrainingError
from depthnet_nano_ros.training.targets import resize_target

__all__ = ["ArrayFrame", "DepthDataset", "FrameRef", "build_frames", "expand_frames", "parse_split",
           "to_sample"]

TARGETS = ("lidar", "densified", "groundtruth", "exact")
KINDS = ("kitti_raw", "kitti_object", "rosbag2")


@dataclass
class FrameRef:
    """One frame of a source; `load()` gives (HxWx3 uint8 RGB, HxW depth in m, dense?)."""

    source: Any  # RawDrive or ObjectDataset
    index: int
    target: str
    name: str
    gt_root: Path | None = None
    cache_dir: Path | None = None
    densify_size: tuple[int, int] | None = None

    def load(self) -> tuple[np.ndarray, np.ndarray, bool]:
        """Read the image and the depth target from disk (densifying through the cache)."""
        rgb = self.source.load_image(self.index)
        if self.target in ("lidar", "densified"):
            depth = frame_sparse_depth(self.source, self.index, cam=self.source.camera)
            if self.target == "lidar":
                return rgb, depth, False
            cache = None if self.cache_dir is None else self.cache_dir / "densified"
            return rgb, cached_densify(rgb, depth, cache, self.densify_size), True
        kind = "exact" if self.target == "exact" else "groundtruth"
        drive_dir = self.source.drive_dir
        if self.gt_root is not None:
            drive_dir = self.gt_root / drive_dir.name
        depth = load_depth_png(annotated_depth_path(drive_dir, self.index, self.source.camera,
                                                    kind))
        # Annotated benchmark maps are semi-dense: treat them as sparse (masked) targets.
        return rgb, depth, self.target == "exact"

    def focal_px(self) -> float:
        """Horizontal focal length (px) of the image `load()` returns (its calibration's K)."""
        return float(self.source.calibration(self.index).K(self.source.camera)[0, 0])

    def principal_row(self) -> float:
        """cy (px) of the image `load()` returns."""
        return float(self.source.calibration(self.index).K(self.source.camera)[1, 2])


@dataclass
class ArrayFrame:
    """An in-memory frame (tests, tools): the same `load()` interface as :class:`FrameRef`."""

    rgb: np.ndarray
    depth: np.ndarray
    dense: bool = True
    name: str = "array"
    fx: float | None = None  # focal px of `rgb`; None = taken as the reference camera's
    cy: float | None = None  # principal point row of `rgb`; None = the image centre

    def load(self) -> tuple[np.ndarray, np.ndarray, bool]:
        """The arrays themselves."""
        return self.rgb, self.depth, self.dense

    def focal_px(self) -> float | None:
        """The focal length given, if any."""
        return self.fx

    def principal_row(self) -> float | None:
        """The principal point row given, if any."""
        return self.cy


def parse_split(path: str | Path) -> list[tuple[str, int, str]]:
    """Lines 'date/drive_sync frame side' (monodepth2 / Eigen-Zhou lists) -> tuples."""
    path = Path(path)
    if not path.is_file():
        raise TrainingError(f"split file {path} does not exist: pass a list of "
                            "'date/drive_sync frame side' lines")
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) not in (2, 3) or not parts[1].isdigit() or "/" not in parts[0]:
            raise TrainingError(f"{path}:{n}: expected 'date/drive_sync frame [l|r]', "
                                f"got {line!r}")
        out.append((parts[0], int(parts[1]), parts[2] if len(parts) == 3 else "l"))
    return out


def expand_frames(spec: Any, on_disk: list[int]) -> list[int]:
    """`frames` entry -> indices: None = all on disk; [a, b, s] = range a..b step s."""
    if spec is None:
        return list(on_disk)
    if isinstance(spec, str) and ":" in spec:  # "10:97:3"
        spec = [int(v) for v in spec.split(":")]
    if isinstance(spec, Sequence) and len(spec) == 3 and isinstance(spec[0], int):
        return list(range(spec[0], spec[1] + 1, spec[2]))
    return [int(v) for v in spec]


def _resolve(path: Any, base: Path | None) -> Path:
    p = Path(str(path)).expanduser()
    return p if p.is_absolute() or base is None else (base / p)


def build_frames(spec: dict[str, Any], base: Path | None = None,
                 cache_dir: Path | None = None) -> list[FrameRef]:
    """Expand one data-source dict (see the module doc) into frames; paths relative to `base`."""
    kind, target = spec.get("kind", "kitti_raw"), spec.get("target", "lidar")
    if kind not in KINDS:
        raise TrainingError(f"data source kind {kind!r} is unknown: use one of {KINDS}")
    if kind == "rosbag2":  # the user's own recording (training/bag_dataset.py)
        return bag_frames(spec, base) * int(spec.get("repeat", 1))
    if target not in TARGETS:
        raise TrainingError(f"data source target {target!r} is unknown: use one of {TARGETS}")
    if "root" not in spec:
        raise TrainingError(f"data source {spec} has no 'root': set the KITTI folder")
    root = _resolve(spec["root"], base)
    if not root.is_dir():
        raise TrainingError(f"data root {root} does not exist: fix 'root' in the config "
                            "(relative paths are relative to the config file)")
    gt_root = _resolve(spec["gt_root"], base) if spec.get("gt_root") else None
    dsize = tuple(spec["densify_size"]) if spec.get("densify_size") else None
    common = {"target": target, "gt_root": gt_root, "cache_dir": cache_dir,
              "densify_size": dsize}
    frames: list[FrameRef] = []
    if kind == "kitti_object":
        if target not in ("lidar", "densified"):
            raise TrainingError(f"kitti_object sources have only lidar depth, not {target!r}")
        ds = ObjectDataset(root)
        for i in expand_frames(spec.get("frames"), ds.frames):
            frames.append(FrameRef(ds, i, name=f"object/{i:06d}", **common))
    else:
        for drive, idx in _raw_entries(spec, root, base):
            for i in idx:
                name = drive.drive_dir.relative_to(root).as_posix()
                frames.append(FrameRef(drive, i, name=f"{name}/{i:010d}", **common))
    frames *= int(spec.get("repeat", 1))
    if not frames:
        raise TrainingError(f"data source {spec} selects no frames: check 'frames' and 'split'")
    return frames


def _raw_entries(spec: dict[str, Any], root: Path,
                 base: Path | None) -> list[tuple[RawDrive, list[int]]]:
    """(drive, frame indices) pairs of a kitti_raw source."""
    drives: dict[tuple[str, int], RawDrive] = {}

    def drive_of(name: str, cam: int) -> RawDrive:
        *date_dir, drive = name.strip("/").split("/")  # [set folder/]date/date_drive_N_sync
        if (name, cam) not in drives:
            drives[(name, cam)] = RawDrive(root.joinpath(*date_dir), drive, camera=cam)
        return drives[(name, cam)]

    if spec.get("split"):
        grouped: dict[tuple[str, int], list[int]] = {}
        for name, i, side in parse_split(_resolve(spec["split"], base)):
            grouped.setdefault((name, 2 if side == "l" else 3), []).append(i)
        return [(drive_of(n, c), idx) for (n, c), idx in grouped.items()]
    names = spec.get("drives") or sorted(  # KITTI's layout, or a synth-drive --drives set
        p.relative_to(root).as_posix() for pattern in ("*/*_drive_*_sync", "*/*/*_drive_*_sync")
        for p in root.glob(pattern) if p.is_dir())
    if not names:
        raise TrainingError(f"no KITTI raw drives (DATE/DATE_drive_NNNN_sync) under {root}")
    out = []
    for name in names:
        drive = drive_of(name, 2 if spec.get("side", "l") == "l" else 3)
        out.append((drive, expand_frames(spec.get("frames"), drive.frames)))
    return out


def to_sample(rgb: np.ndarray, depth: np.ndarray, dense: bool, size: tuple[int, int],
              aug: AugmentConfig | None = None, rng: np.random.Generator | None = None,
              max_depth: float = 80.0, min_depth: float = 1.0) -> dict[str, torch.Tensor]:
    """Image and depth at the input size -> tensors: image (3,h,w), target o = max_depth/depth
    (1,h,w), mask (1,h,w), depth in metres (1,h,w, 0 = invalid)."""
    rgb_s = resize_rgb(rgb, size)
    depth_s = resize_target(depth, size, dense)
    if aug is not None:
        rgb_s, depth_s = augment(rgb_s, depth_s, aug, rng or np.random.default_rng())
    d = torch.from_numpy(np.ascontiguousarray(depth_s))[None]
    mask = (d > 0).float()
    target = depth_to_output(torch.where(d > 0, d, torch.full_like(d, max_depth)),
                             min_depth=min_depth, max_depth=max_depth) * mask
    return {"image": torch.from_numpy(normalize_rgb(rgb_s)[0]), "target": target,
            "mask": mask, "depth": d}


class DepthDataset(Dataset):
    """Frames -> training samples at the network input size, optionally augmented.

    `ref_focal` (px at the input width) turns on focal normalization (module doc); zoom
    augmentation keeps the full-resolution frames in the cache, the rest keeps them resized.
    """

    def __init__(self, frames: Sequence[FrameRef | ArrayFrame | BagFrame],
                 input_size: tuple[int, int],
                 augment_cfg: AugmentConfig | None = None, seed: int = 0,
                 cache_in_memory: bool = True, max_depth: float = 80.0,
                 min_depth: float = 1.0, ref_focal: float | None = None) -> None:
        self.frames = list(frames)
        self.size = check_input_size(input_size)
        self.aug = augment_cfg
        self.seed = seed
        self.epoch = 0
        self.max_depth, self.min_depth = max_depth, min_depth
        self.ref_focal = ref_focal
        self._full = augment_cfg is not None and augment_cfg.zoom_prob > 0
        self._cache: dict[int, tuple[np.ndarray, np.ndarray, bool, float | None]] | None = (
            {} if cache_in_memory else None)

    def __len__(self) -> int:
        return len(self.frames)

    def set_epoch(self, epoch: int) -> None:
        """Change the augmentation stream (call once per epoch, like DistributedSampler)."""
        self.epoch = epoch

    def _load(self, i: int) -> tuple[np.ndarray, np.ndarray, bool, float | None, float | None]:
        """Frame `i` (full size for zoom crops, else at the input size), its focal px at that
        size and (zoom only) its principal row; memoized: the same content every epoch."""
        if self._cache is not None and i in self._cache:
            return self._cache[i]
        frame = self.frames[i]
        rgb, depth, dense = frame.load()
        fx = frame.focal_px() if self.ref_focal is not None else None
        cy = frame.principal_row() if self._full else None
        if not self._full:
            fx = None if fx is None else fx * self.size[1] / rgb.shape[1]
            rgb, depth = resize_rgb(rgb, self.size), resize_target(depth, self.size, dense)
        item = (rgb, depth, dense, fx, cy)
        if self._cache is not None:
            self._cache[i] = item
        return item

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        rgb, depth, dense, fx, cy = self._load(i)
        rng = np.random.default_rng((self.seed, self.epoch, i))
        if self.aug is not None:
            rgb, depth = zoom_crop(rgb, depth, self.aug, rng, cy)
        if fx is not None:  # focal normalization: fx (at the cached width) once resized
            depth = depth * np.float32(self.ref_focal / (fx * self.size[1] / rgb.shape[1]))
        return to_sample(rgb, depth, dense, self.size, self.aug, rng, self.max_depth,
                         self.min_depth)
