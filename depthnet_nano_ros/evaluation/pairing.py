"""Pair each image with the lidar scan nearest in time; reject pairs too far apart."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Pairing:
    """Result of :func:`pair_nearest`: accepted (image, lidar) index pairs and the rejects."""

    image_index: np.ndarray  # indices into the image stamps, ascending by image stamp
    lidar_index: np.ndarray  # matching indices into the lidar stamps
    offset_ns: np.ndarray  # lidar stamp - image stamp of each accepted pair
    rejected: int  # images whose nearest scan is farther than the bound (or no scan at all)

    def __len__(self) -> int:
        """Number of accepted pairs."""
        return int(self.image_index.size)


def nearest_index(sorted_stamps: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Index into ascending `sorted_stamps` of the nearest stamp to each query (ties: earlier)."""
    sorted_stamps = np.asarray(sorted_stamps, dtype=np.int64)
    queries = np.asarray(queries, dtype=np.int64)
    right = np.clip(np.searchsorted(sorted_stamps, queries, side="left"), 0, sorted_stamps.size - 1)
    left = np.clip(right - 1, 0, sorted_stamps.size - 1)
    take_left = np.abs(queries - sorted_stamps[left]) <= np.abs(sorted_stamps[right] - queries)
    return np.where(take_left, left, right)


def pair_nearest(image_stamps_ns: np.ndarray, lidar_stamps_ns: np.ndarray,
                 max_offset_ns: int) -> Pairing:
    """Pair every image with its nearest lidar scan; reject and count |offset| > bound."""
    images = np.asarray(image_stamps_ns, dtype=np.int64)
    lidar = np.asarray(lidar_stamps_ns, dtype=np.int64)
    empty = np.zeros(0, dtype=np.int64)
    if images.size == 0 or lidar.size == 0:
        return Pairing(empty, empty, empty, int(images.size))
    img_order = np.argsort(images, kind="stable")
    lid_order = np.argsort(lidar, kind="stable")
    near = lid_order[nearest_index(lidar[lid_order], images[img_order])]
    offset = lidar[near] - images[img_order]
    ok = np.abs(offset) <= max_offset_ns
    return Pairing(img_order[ok], near[ok], offset[ok], int(np.count_nonzero(~ok)))
