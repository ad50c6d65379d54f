"""Steadier depth from a small network: blend each frame with the previous filtered depth
where the scene did not change, and take the new depth at once where it did.

A pixel is *unchanged* when the block-mean grey level of the image around it moved less than
`image_threshold` since the previous frame **and** the new depth is within `depth_threshold`
(relative) of the filtered one; there the output is ``alpha * previous + (1 - alpha) * new``
(an exponential average, so sensor noise and network flicker average out). Everywhere else
(a moving object, a new view) the output is the new depth itself: no lag. Without ego-motion
compensation a moving camera changes most blocks, so the filter mainly steadies a camera that
stands still (a robot waiting) and the far, slowly changing parts of a view.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["TemporalFilter", "TemporalSettings"]

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class TemporalSettings:
    """How much to smooth and what counts as a change."""

    alpha: float = 0.4  # weight of the previous filtered depth on unchanged pixels, [0, 1)
    image_threshold: float = 10.0  # block-mean grey change (0-255) that marks a change
    depth_threshold: float = 0.25  # relative depth change that marks a change
    block: int = 8  # side (px) of the blocks whose mean grey level is compared

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha < 1.0:
            raise ValueError(f"temporal alpha {self.alpha} must be in [0, 1) (0 = no smoothing)")
        if self.image_threshold <= 0 or self.depth_threshold <= 0:
            raise ValueError("temporal image_threshold and depth_threshold must be > 0")
        if self.block < 1:
            raise ValueError(f"temporal block {self.block} must be >= 1 pixel")


def block_grey(rgb: np.ndarray, block: int) -> np.ndarray:
    """Mean grey level (0-255) of each `block` x `block` tile of an HxWx3 uint8 image."""
    h, w = rgb.shape[:2]
    hb, wb = -(-h // block), -(-w // block)
    grey = rgb.astype(np.float32) @ _LUMA
    padded = np.pad(grey, ((0, hb * block - h), (0, wb * block - w)), mode="edge")
    return padded.reshape(hb, block, wb, block).mean(axis=(1, 3))


class TemporalFilter:
    """Stateful filter: call it on each frame in order; `reset()` forgets the past."""

    def __init__(self, settings: TemporalSettings | None = None) -> None:
        self.settings = settings or TemporalSettings()
        self._grey: np.ndarray | None = None
        self._depth: np.ndarray | None = None
        self.last_blended = 0.0  # fraction of pixels blended in the last frame

    def reset(self) -> None:
        """Start over (the next frame passes unchanged)."""
        self._grey = self._depth = None

    def __call__(self, rgb: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """Filtered copy of `depth` (HxW metres, NaN/0 = invalid) for image `rgb` (HxWx3)."""
        s = self.settings
        grey = block_grey(rgb, s.block)
        depth = np.asarray(depth, dtype=np.float32)
        prev, prev_grey = self._depth, self._grey
        if prev is None or prev.shape != depth.shape:  # (the grey blocks follow the size)
            self._grey, self._depth, self.last_blended = grey, depth.copy(), 0.0
            return depth.copy()
        h, w = depth.shape
        still = np.abs(grey - prev_grey) < s.image_threshold
        still = np.repeat(np.repeat(still, s.block, 0), s.block, 1)[:h, :w]
        with np.errstate(invalid="ignore", divide="ignore"):
            close = np.abs(depth - prev) < s.depth_threshold * prev
        blend = still & close & (prev > 0) & (depth > 0)  # NaN compares False
        out = depth.copy()
        out[blend] = s.alpha * prev[blend] + (1.0 - s.alpha) * depth[blend]
        self._grey, self._depth = grey, out
        self.last_blended = float(blend.mean())
        return out.copy()
