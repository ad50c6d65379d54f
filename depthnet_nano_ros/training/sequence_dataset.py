"""Image sequences from a bag for self-supervised training: (previous, target, next) triplets.

A ``kind: rosbag2`` source with ``supervision: self`` needs only ``image_topic`` (and its
``camera_info``). Images are read in time order, resized to the network input (the
intrinsics with them) and kept in memory; triplets whose neighbours barely differ from the
target (a camera standing still) are dropped, since view synthesis learns nothing there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from depthnet_nano_ros.errors import DepthNetNanoError
from depthnet_nano_ros.evaluation.bag_source import BagSource, Topics, image_rgb
from depthnet_nano_ros.model.transforms import normalize_rgb, resize_rgb
from depthnet_nano_ros.training.bag_dataset import source_bag, take_part
from depthnet_nano_ros.training.errors import TrainingError

__all__ = ["MIN_MOTION", "Sequence", "TripletDataset", "bag_sequence"]

#: mean |grey difference| (0-255, 8x-downsampled images) below which two frames count as still
MIN_MOTION = 1.5
MIN_TRIPLETS = 3


@dataclass
class Sequence:
    """Time-ordered images of one bag at the network input size, with their intrinsics."""

    images: list[np.ndarray]  #: HxWx3 uint8 at the input size
    K: np.ndarray             #: 3x3 at the input size
    name: str

    def motion(self) -> np.ndarray:
        """Mean absolute grey difference between consecutive frames (len(images) - 1)."""
        def small(rgb: np.ndarray) -> np.ndarray:
            h, w = rgb.shape[0] // 8 * 8, rgb.shape[1] // 8 * 8
            grey = rgb[:h, :w].astype(np.float32) @ np.float32([0.299, 0.587, 0.114])
            return grey.reshape(h // 8, 8, w // 8, 8).mean((1, 3))
        grey = [small(im) for im in self.images]
        return np.array([np.abs(b - a).mean() for a, b in zip(grey[:-1], grey[1:],
                                                              strict=True)])

    def triplets(self, at_least: int = MIN_TRIPLETS) -> list[int]:
        """Target indices whose both neighbours moved (module doc); an error when too few."""
        moved = self.motion() >= MIN_MOTION
        keep = [i for i in range(1, len(self.images) - 1) if moved[i - 1] and moved[i]]
        if len(keep) < at_least:
            still = int((~moved).sum())
            raise TrainingError(
                f"{self.name}: only {len(keep)} of {max(0, len(self.images) - 2)} frames have "
                f"moving neighbours ({still} of {len(moved)} consecutive pairs differ by less "
                f"than {MIN_MOTION} grey levels): self-supervision needs a moving camera. "
                "Record while the robot drives, lower 'every' if the frames are far apart in "
                "time only, or supervise with --lidar-topic / --depth-topic")
        return keep


def bag_sequence(spec: dict[str, Any], size: tuple[int, int],
                 base: Path | None = None) -> Sequence:
    """The images of a ``supervision: self`` rosbag2 source (module doc), resized to `size`."""
    path, part, frac = source_bag(spec, base)
    topics = Topics(image=spec["image_topic"],
                    camera_info=spec.get("camera_info_topic") or Topics().camera_info)
    images: list[tuple[int, np.ndarray]] = []
    try:
        with BagSource(path, topics, need_lidar=False) as source:
            K = source.intrinsics().astype(np.float64)
            reader = source.reader
            conns = [c for c in reader.connections if c.topic == topics.image]
            for n, (conn, _t, raw) in enumerate(reader.messages(connections=conns)):
                rgb = image_rgb(reader.deserialize(raw, conn.msgtype))
                if n == 0:
                    h0, w0 = rgb.shape[:2]
                images.append((int(source.image_stamps[n]), resize_rgb(rgb, size)))
    except TrainingError:
        raise
    except DepthNetNanoError as exc:
        raise TrainingError(f"training bag {path}: {exc}") from exc
    images.sort(key=lambda item: item[0])
    images = images[::max(1, int(spec.get("every", 1)))]
    n_val = max(3, round(frac * len(images)))  # the last ones in time, >= one triplet
    if len(images) < MIN_TRIPLETS + 2 + (n_val if part != "all" else 0):
        raise TrainingError(f"training bag {path} has {len(images)} images on "
                            f"{topics.image}; self-supervision needs at least "
                            f"{MIN_TRIPLETS + 2} consecutive ones for training"
                            f"{f' and {n_val} for validation' if part != 'all' else ''}")
    images = take_part(images, part, n_val)
    scale = np.diag([size[1] / w0, size[0] / h0, 1.0])
    return Sequence([im for _s, im in images], scale @ K, f"bag {path} ({topics.image})")


class TripletDataset(Dataset):
    """(previous, target, next) samples: images in [0, 1], the normalized target, K."""

    def __init__(self, sequences: list[Sequence], flip: bool = True, seed: int = 0,
                 at_least: int = MIN_TRIPLETS) -> None:
        self.sequences = sequences
        self.items = [(s, i) for s, seq in enumerate(sequences) for i in seq.triplets(at_least)]
        self.flip, self.seed, self.epoch = flip, seed, 0

    def __len__(self) -> int:
        return len(self.items)

    def set_epoch(self, epoch: int) -> None:
        """Change the flip stream (like the supervised dataset)."""
        self.epoch = epoch

    def __getitem__(self, k: int) -> dict[str, torch.Tensor]:
        s, i = self.items[k]
        seq = self.sequences[s]
        frames = [seq.images[j] for j in (i - 1, i, i + 1)]
        K = seq.K.copy()
        if self.flip and np.random.default_rng((self.seed, self.epoch, k)).random() < 0.5:
            frames = [np.ascontiguousarray(f[:, ::-1]) for f in frames]
            K[0, 2] = frames[0].shape[1] - 1 - K[0, 2]
        as01 = [torch.from_numpy(f.astype(np.float32) / 255.0).permute(2, 0, 1) for f in frames]
        return {"prev": as01[0], "target": as01[1], "next": as01[2],
                "image": torch.from_numpy(normalize_rgb(frames[1])[0]),
                "K": torch.from_numpy(K.astype(np.float32))}
