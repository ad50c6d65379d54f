"""Metric scale for a self-supervised depth network: from the camera height or from lidar.

View synthesis fixes depth only up to one unknown factor. Two ways to recover it:

* **camera height** (``--camera-height H``): the road in front of the camera is a plane; fit
  it (RANSAC) to the predicted depth of the lower middle of each image, back-projected with
  K. The plane's distance from the camera centre is the predicted height h; scale = H / h
  (median over frames).
* **lidar** (a lidar topic in the bag): the median of ground truth / prediction over the
  lidar pixels of the validation frames (what median scaling in the evaluator does).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from depthnet_nano_ros.training.errors import TrainingError

__all__ = ["ground_height", "height_scale", "lidar_scale"]

MAX_TILT_DEG = 30.0  #: the fitted ground normal must be this close to the camera's vertical


def ground_height(depth: np.ndarray, K: np.ndarray, rng: np.random.Generator,
                  iterations: int = 200) -> float | None:
    """Distance of the camera centre from the ground plane under it, in depth's units.

    None when no plane with a near-vertical normal holds a third of the region's points.
    """
    h, w = depth.shape
    v, u = np.mgrid[int(h * 0.7):h, int(w * 0.25):int(w * 0.75)]
    z = depth[v, u].ravel()
    ok = np.isfinite(z) & (z > 0)
    if ok.sum() < 50:
        return None
    pix = np.stack([u.ravel()[ok], v.ravel()[ok], np.ones(int(ok.sum()))])
    pts = (np.linalg.inv(K) @ pix * z[ok]).T  # camera frame: x right, y down, z forward
    tol = 0.02 * float(np.median(z[ok]))
    best, best_in = None, 0
    cos_max = np.cos(np.deg2rad(MAX_TILT_DEG))
    for _ in range(iterations):
        a, b, c = pts[rng.choice(len(pts), 3, replace=False)]
        n = np.cross(b - a, c - a)
        norm = np.linalg.norm(n)
        if norm < 1e-9 or abs(n[1]) / norm < cos_max:
            continue
        n /= norm
        inliers = int((np.abs((pts - a) @ n) < tol).sum())
        if inliers > best_in:
            best, best_in = (n, a), inliers
    if best is None or best_in < len(pts) / 3:
        return None
    n, a = best
    inl = pts[np.abs((pts - a) @ n) < tol]
    centre = inl.mean(0)
    n = np.linalg.svd(inl - centre)[2][2]  # least-squares refit on the inliers
    return float(abs(centre @ n))


def height_scale(depths: Iterable[np.ndarray], K: np.ndarray, camera_height: float,
                 seed: int = 0) -> tuple[float, int]:
    """(camera_height / median predicted height, frames used); an error when none fits."""
    if not camera_height > 0:
        raise TrainingError(f"--camera-height {camera_height} must be > 0 (metres)")
    rng = np.random.default_rng(seed)
    heights = [g for d in depths if (g := ground_height(d, K, rng)) is not None and g > 0]
    if not heights:
        raise TrainingError("--camera-height: no flat ground found in the lower middle of any "
                            "frame (the camera must see the floor / road in front of it); "
                            "give a lidar topic for the scale instead, or leave the depth "
                            "relative")
    return camera_height / float(np.median(heights)), len(heights)


def lidar_scale(pairs: Iterable[tuple[np.ndarray, np.ndarray]]) -> tuple[float, int]:
    """(median over frames of median(gt / pred) on lidar pixels, frames used)."""
    ratios = []
    for pred, gt in pairs:
        ok = (gt > 0) & np.isfinite(pred) & (pred > 0)
        if ok.sum() >= 10:
            ratios.append(float(np.median(gt[ok] / pred[ok])))
    if not ratios:
        raise TrainingError("lidar scale: no validation frame has 10 lidar pixels")
    return float(np.median(ratios)), len(ratios)
