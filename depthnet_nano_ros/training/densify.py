"""Dense depth targets from sparse lidar by colorization inpainting (Levin et al. 2004).

This is the NYU Depth v2 toolbox's ``fill_depth_colorization``: every pixel's depth should be
the affinity-weighted mean of its 3x3 neighbours, with affinities from the grey image
``w = exp(-(g_n - g_c)^2 / sigma_c)`` (``sigma_c`` = 0.6 x the local grey variance, floored as
in the toolbox), and known pixels constrain the solution. One difference, documented: known
(lidar) pixels are *hard* constraints, as in Levin's original colorization (the toolbox's
``alpha`` -> infinity), so measured depth is kept exactly and only unknown pixels are solved
(``A_uu x_u = -A_uk x_k``, one sparse LU solve with scipy).

The result is meaningful only where the lidar saw the scene, so pixels outside the lidar's
image footprint (above the highest projected point of each column neighbourhood, or left /
right of all points) are set to 0 = invalid. Results are cached on disk as KITTI depth PNGs.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.ndimage import minimum_filter1d

from depthnet_nano_ros.kitti.annotated import load_depth_png, save_depth_png
from depthnet_nano_ros.model.transforms import resize_rgb
from depthnet_nano_ros.training.errors import TrainingError
from depthnet_nano_ros.training.targets import resize_sparse_depth

__all__ = ["cached_densify", "densify", "lidar_footprint"]

_LUMA = np.array([0.299, 0.587, 0.114])
#: Bump when the algorithm changes, so stale cache files are not reused.
ALGORITHM_VERSION = 1


def lidar_footprint(valid: np.ndarray, column_window: int = 15) -> np.ndarray:
    """Pixels inside the lidar's image footprint: at or below the smoothed top envelope of the
    valid points of each column neighbourhood, between the leftmost and rightmost point."""
    h, w = valid.shape
    rows = np.where(valid, np.arange(h)[:, None], h).min(axis=0)  # first valid row per column
    top = minimum_filter1d(rows, size=column_window, mode="nearest")
    cols = np.flatnonzero(valid.any(axis=0))
    inside = np.arange(h)[:, None] >= top[None, :]
    if cols.size:
        span = np.zeros(w, dtype=bool)
        span[cols[0]:cols[-1] + 1] = True
        inside &= span[None, :]
    else:
        inside[:] = False
    return inside


def _affinity_matrix(gray: np.ndarray) -> sp.csr_matrix:
    """Levin's matrix A = I - W with W the normalized 3x3 grey-level affinities."""
    h, w = gray.shape
    n = h * w
    pad = np.pad(gray, 1, mode="constant", constant_values=np.nan)
    offsets = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]
    neigh = np.stack([pad[1 + dy:1 + dy + h, 1 + dx:1 + dx + w] for dy, dx in offsets])
    inside = ~np.isnan(neigh)
    window = np.concatenate([neigh, gray[None]], axis=0)
    win_in = np.concatenate([inside, np.ones((1, h, w), dtype=bool)], axis=0)
    count = win_in.sum(axis=0)
    mean = np.where(win_in, window, 0).sum(axis=0) / count
    var = np.where(win_in, (window - mean) ** 2, 0).sum(axis=0) / count
    diff2 = np.where(inside, (neigh - gray[None]) ** 2, np.inf)
    sigma = 0.6 * var
    mgv = diff2.min(axis=0)
    sigma = np.maximum(sigma, -mgv / np.log(0.01))
    sigma = np.maximum(sigma, 2e-6)
    wts = np.where(inside, np.exp(-np.where(inside, diff2, 0) / sigma), 0.0)
    wts /= wts.sum(axis=0, keepdims=True)
    idx = np.arange(n).reshape(h, w)
    pidx = np.pad(idx, 1, mode="constant", constant_values=-1)
    rows, cols, vals = [idx.ravel()], [idx.ravel()], [np.ones(n)]
    for k, (dy, dx) in enumerate(offsets):
        nb = pidx[1 + dy:1 + dy + h, 1 + dx:1 + dx + w].ravel()
        ok = inside[k].ravel()
        rows.append(idx.ravel()[ok])
        cols.append(nb[ok])
        vals.append(-wts[k].ravel()[ok])
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(n, n))


def densify(rgb: np.ndarray, sparse: np.ndarray, footprint_only: bool = True) -> np.ndarray:
    """HxW float32 dense depth from an HxWx3 uint8 image and HxW sparse depth (0 = unknown)."""
    if rgb.shape[:2] != sparse.shape or rgb.ndim != 3:
        raise TrainingError(f"densify needs an HxWx3 image and an HxW depth of the same size, "
                            f"got {rgb.shape} and {sparse.shape}")
    known = sparse > 0
    if not known.any():
        raise TrainingError("densify got a depth map without any valid pixel: check the lidar "
                            "projection (calibration, image size)")
    gray = (rgb.astype(np.float64) / 255.0) @ _LUMA
    A = _affinity_matrix(gray)
    k = known.ravel()
    x = sparse.astype(np.float64).ravel().copy()
    u = ~k
    rhs = -(A[u][:, k] @ x[k])
    x[u] = spla.spsolve(A[u][:, u].tocsc(), rhs)
    dense = x.reshape(sparse.shape).astype(np.float32)
    dense[known] = sparse[known]
    if footprint_only:
        dense[~lidar_footprint(known)] = 0.0
    return np.clip(dense, 0.0, None)


def _cache_key(rgb: np.ndarray, sparse: np.ndarray) -> str:
    """Content hash of the inputs (any change of image, lidar or algorithm misses the cache)."""
    h = hashlib.sha256()
    h.update(f"v{ALGORITHM_VERSION}:{rgb.shape}:{sparse.shape}".encode())
    h.update(np.ascontiguousarray(rgb).tobytes())
    h.update(np.ascontiguousarray(sparse, dtype=np.float32).tobytes())
    return h.hexdigest()[:24]


def cached_densify(rgb: np.ndarray, sparse: np.ndarray, cache_dir: str | Path | None,
                   size: tuple[int, int] | None = None) -> np.ndarray:
    """:func:`densify` at `size` (default: the inputs' size), cached as a depth PNG.

    With a smaller `size` the image is resized bilinearly and the sparse depth by nearest point
    (:func:`~depthnet_nano_ros.training.targets.resize_sparse_depth`) before solving, which is
    much faster; the result has shape `size`.
    """
    if size is not None and tuple(size) != sparse.shape:
        rgb, sparse = resize_rgb(rgb, size), resize_sparse_depth(sparse, size)
    if cache_dir is None:
        return densify(rgb, sparse)
    path = Path(cache_dir) / f"{_cache_key(rgb, sparse)}.png"
    if path.is_file():
        return load_depth_png(path)
    dense = densify(rgb, sparse)
    save_depth_png(path, dense)
    return load_depth_png(path)
