"""Temporal consistency of predicted depth: how much it changes from frame to frame where the
ground truth did not.

For consecutive frames (t-1, t), on pixels valid in both ground truths whose true depth changed
by less than `tolerance` (relative), the score is mean ``|pred_t - pred_{t-1}| / gt_t``: the
flicker of the prediction, in units of depth. 0 is perfectly steady; the true change on those
pixels is below `tolerance` by construction. No image warping: with a moving camera only pixels
whose depth barely changes count (far scenery, the horizon); on a still camera all of them do.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["TemporalConsistency"]


@dataclass
class TemporalConsistency:
    """Accumulates the flicker of a sequence; feed frames in time order with `add`."""

    tolerance: float = 0.02
    min_depth: float = 1e-3
    max_depth: float = 80.0
    _prev: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    _sums: list[tuple[float, int]] = field(default_factory=list, repr=False)

    def add(self, gt: np.ndarray, pred: np.ndarray) -> None:
        """Next frame: ground truth (0 / NaN = none) and prediction, both HxW metres."""
        gt = np.nan_to_num(np.asarray(gt, np.float32), nan=0.0)
        pred = np.asarray(pred, np.float32)
        prev, self._prev = self._prev, (gt, pred)
        if prev is None or prev[0].shape != gt.shape:
            return
        g0, p0 = prev
        lo, hi = self.min_depth, self.max_depth
        with np.errstate(invalid="ignore", divide="ignore"):
            mask = ((gt > lo) & (gt < hi) & (g0 > lo) & (g0 < hi)
                    & (np.abs(gt - g0) < self.tolerance * gt)
                    & np.isfinite(pred) & np.isfinite(p0))
        n = int(mask.sum())
        if n:
            change = np.abs(np.clip(pred[mask], lo, hi) - np.clip(p0[mask], lo, hi)) / gt[mask]
            self._sums.append((float(change.mean()), n))

    def summary(self) -> dict[str, float | int | None]:
        """{"temporal_change": mean over frame pairs (None without any), "pairs", "pixels"}."""
        if not self._sums:
            return {"temporal_change": None, "pairs": 0, "pixels": 0}
        values = np.array([v for v, _ in self._sums])
        return {"temporal_change": float(values.mean()), "pairs": len(self._sums),
                "pixels": int(sum(n for _, n in self._sums))}
