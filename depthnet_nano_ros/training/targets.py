"""Depth targets at the network input size: resizing sparse and dense maps, o-space targets."""

from __future__ import annotations

import numpy as np

from depthnet_nano_ros.model.transforms import resize_depth

__all__ = ["resize_dense_depth", "resize_sparse_depth", "resize_target"]


def resize_sparse_depth(depth: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a sparse depth map (0 = no point) by moving each point to the target pixel that
    contains its pixel centre; the nearest point wins, as in the lidar projection."""
    depth = np.asarray(depth, dtype=np.float32)
    h, w = size
    if depth.shape == (h, w):
        return depth.copy()
    r, c = np.nonzero(depth > 0)
    tr = np.minimum(((r + 0.5) * (h / depth.shape[0])).astype(np.int64), h - 1)
    tc = np.minimum(((c + 0.5) * (w / depth.shape[1])).astype(np.int64), w - 1)
    out = np.full(h * w, np.inf, dtype=np.float32)
    np.minimum.at(out, tr * w + tc, depth[r, c])
    out[np.isinf(out)] = 0.0
    return out.reshape(h, w)


def resize_dense_depth(depth: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a dense depth map whose invalid pixels (0) are not blended in:
    a target pixel stays valid only if every source pixel it interpolates is valid."""
    depth = np.asarray(depth, dtype=np.float32)
    if depth.shape == tuple(size):
        return depth.copy()
    valid = (depth > 0).astype(np.float32)
    weight = resize_depth(valid, size)
    value = resize_depth(depth * valid, size)
    return np.where(weight > 0.999, value / np.maximum(weight, 1e-6), 0.0).astype(np.float32)


def resize_target(depth: np.ndarray, size: tuple[int, int], dense: bool) -> np.ndarray:
    """Resize a depth target to the network input size (dense: bilinear, sparse: nearest point)."""
    return resize_dense_depth(depth, size) if dense else resize_sparse_depth(depth, size)
