"""Depth metrics exactly as monodepth2's ``compute_errors`` plus log10, crops and frame scoring.

Per frame (monodepth2 ``evaluate_depth.py`` semantics): ground-truth pixels with
``min_depth < gt < max_depth`` inside the crop are valid; with median scaling the prediction is
multiplied by ``median(gt) / median(pred)`` over those pixels; the prediction is then clipped to
``[min_depth, max_depth]`` and the errors are computed. The summary is the mean over frames.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from depthnet_nano_ros.evaluation.errors import EvaluationError

#: Metric names in report order; lower is better for the first five, higher for a1..a3.
METRIC_NAMES: tuple[str, ...] = (
    "abs_rel", "sq_rel", "rmse", "rmse_log", "log10", "a1", "a2", "a3",
)
LOWER_IS_BETTER: frozenset[str] = frozenset(METRIC_NAMES[:5])

#: Crops as fractions (top, bottom, left, right) of the image height / width.
CROPS: dict[str, tuple[float, float, float, float] | None] = {
    # Garg et al. (what monodepth2 calls its "eigen" crop; the KITTI default).
    "garg": (0.40810811, 0.99189189, 0.03594771, 0.96405229),
    # Eigen et al. 2014.
    "eigen": (0.3324324, 0.91351351, 0.0359477, 0.96405229),
    "none": None,
}


def compute_errors(gt: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """Errors between 1-D arrays of valid ground truth and prediction (monodepth2 + log10)."""
    gt = np.asarray(gt, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    if gt.shape != pred.shape or gt.ndim != 1 or gt.size == 0:
        raise EvaluationError(
            f"compute_errors needs two equal non-empty 1-D arrays, got {gt.shape} and "
            f"{pred.shape}: select the valid pixels first (see valid_mask)"
        )
    thresh = np.maximum(gt / pred, pred / gt)
    diff = gt - pred
    log_gt, log_pred = np.log(gt), np.log(pred)
    return {
        "abs_rel": float(np.mean(np.abs(diff) / gt)),
        "sq_rel": float(np.mean(diff**2 / gt)),
        "rmse": float(np.sqrt(np.mean(diff**2))),
        "rmse_log": float(np.sqrt(np.mean((log_gt - log_pred) ** 2))),
        "log10": float(np.mean(np.abs(np.log10(gt) - np.log10(pred)))),
        "a1": float(np.mean(thresh < 1.25)),
        "a2": float(np.mean(thresh < 1.25**2)),
        "a3": float(np.mean(thresh < 1.25**3)),
    }


@functools.lru_cache(maxsize=8)
def _cached_crop(shape: tuple[int, int], crop: str) -> np.ndarray:
    mask = crop_mask(shape, crop)
    mask.flags.writeable = False
    return mask


def crop_mask(shape: tuple[int, int], crop: str) -> np.ndarray:
    """HxW bool mask of the named crop (garg, eigen or none), indices as monodepth2 truncates."""
    if crop not in CROPS:
        raise EvaluationError(f"unknown crop {crop!r}: use one of {', '.join(CROPS)}")
    h, w = shape
    fractions = CROPS[crop]
    mask = np.zeros((h, w), dtype=bool)
    if fractions is None:
        mask[:] = True
        return mask
    top, bottom, left, right = np.array(
        [fractions[0] * h, fractions[1] * h, fractions[2] * w, fractions[3] * w]
    ).astype(np.int32)
    mask[top:bottom, left:right] = True
    return mask


def valid_mask(gt: np.ndarray, crop: str, min_depth: float, max_depth: float) -> np.ndarray:
    """Pixels monodepth2 scores: ``min_depth < gt < max_depth`` inside the crop."""
    return (gt > min_depth) & (gt < max_depth) & _cached_crop(tuple(gt.shape), crop)


@dataclass(frozen=True)
class EvalSettings:
    """How frames are scored (the knobs of the ``evaluate`` command)."""

    crop: str = "garg"
    min_depth: float = 1e-3
    max_depth: float = 80.0
    median_scaling: bool = False

    def __post_init__(self) -> None:
        """Reject impossible settings early, naming the flag to fix."""
        if self.crop not in CROPS:
            raise EvaluationError(f"--crop {self.crop!r} is unknown: use one of {', '.join(CROPS)}")
        if not 0 < self.min_depth < self.max_depth:
            raise EvaluationError(
                f"--min-depth {self.min_depth} / --max-depth {self.max_depth}: need "
                "0 < min-depth < max-depth"
            )


@dataclass
class FrameScore:
    """Metrics of one frame; ``metrics`` is None when no ground-truth pixel was valid."""

    stamp_ns: int
    metrics: dict[str, float] | None
    valid_points: int
    scale: float

    def to_json(self) -> dict[str, object]:
        """The ``per_frame`` entry of the JSON summary (metrics null for empty frames)."""
        entry: dict[str, object] = {"stamp_ns": int(self.stamp_ns)}
        for name in METRIC_NAMES:
            entry[name] = None if self.metrics is None else self.metrics[name]
        entry["valid_points"] = int(self.valid_points)
        entry["scale"] = float(self.scale)
        return entry


def score_frame(gt: np.ndarray, pred: np.ndarray, settings: EvalSettings,
                stamp_ns: int = 0) -> FrameScore:
    """Score a predicted HxW depth against HxW ground truth (0 = no measurement)."""
    if gt.shape != pred.shape:
        raise EvaluationError(
            f"ground truth {gt.shape} and prediction {pred.shape} differ in size: the "
            "prediction must be at the image's resolution"
        )
    # valid_mask on the (sparse) pixels above min_depth only: same pixels, one full-image pass
    idx = np.flatnonzero(gt > settings.min_depth)
    gt_v = gt.ravel()[idx].astype(np.float64)
    pred_v = pred.ravel()[idx].astype(np.float64)
    keep = (gt_v < settings.max_depth) & _cached_crop(tuple(gt.shape), settings.crop).ravel()[idx]
    keep &= np.isfinite(pred_v)  # a NaN from a broken engine must not poison the mean
    gt_v, pred_v = gt_v[keep], pred_v[keep]
    if gt_v.size == 0:
        return FrameScore(stamp_ns, None, 0, 1.0)
    scale = 1.0
    if settings.median_scaling:
        med_pred = float(np.median(pred_v))
        scale = float(np.median(gt_v)) / med_pred if med_pred > 0 else 1.0
        pred_v = pred_v * scale
    pred_v = np.clip(pred_v, settings.min_depth, settings.max_depth)
    return FrameScore(stamp_ns, compute_errors(gt_v, pred_v), int(gt_v.size), scale)


def summarize(scores: Sequence[FrameScore]) -> dict[str, float | None]:
    """Mean metrics over scored frames, plus median scale and std (monodepth2's ratio stats)."""
    scored = [s for s in scores if s.metrics is not None]
    out: dict[str, float | None] = {}
    for name in METRIC_NAMES:
        out[name] = float(np.mean([s.metrics[name] for s in scored])) if scored else None
    ratios = np.array([s.scale for s in scored], dtype=np.float64)
    if ratios.size:
        med = float(np.median(ratios))
        out["median_scale"] = med
        # monodepth2 prints np.std(ratios / med); the absolute std is std_rel * med.
        out["median_scale_std"] = float(np.std(ratios / med))
    else:
        out["median_scale"] = out["median_scale_std"] = None
    return out
