"""Training augmentation: zoom crops, horizontal flip, RGB channel permutation, photometric jitter.

:func:`augment` works on HxWx3 uint8 RGB and HxW depth arrays at the network input size, before
``model.transforms.normalize_rgb`` (so the network sees exactly what inference feeds it).
Geometry changes (the flip) apply to image and depth together; colour changes to the image only.
:func:`zoom_crop` runs before the resize to the input size: a random crop of the full image that
the resize then magnifies, i.e. a longer focal length; the dataset moves the depth target's
focal normalization with it (``training.datasets``), so depth stays consistent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["AugmentConfig", "augment", "zoom_crop"]

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and jitter ranges (DenseDepth: flip 0.5, channel swap 0.25)."""

    flip_prob: float = 0.5
    channel_swap_prob: float = 0.25
    jitter_prob: float = 0.8
    brightness: float = 0.2  # multiply by U(1 - b, 1 + b)
    contrast: float = 0.2  # blend with the mean grey level
    saturation: float = 0.2  # blend with the grey image
    gamma: float = 0.1  # exponent U(1 - g, 1 + g) on [0, 1] intensities
    zoom_prob: float = 0.0  # crop 1/z of the image (z ~ U(1, zoom_max)) = focal length x z
    zoom_max: float = 2.0

    def __post_init__(self) -> None:
        if not 1.0 <= self.zoom_max <= 8.0:
            raise ValueError(f"augment zoom_max {self.zoom_max} must be in [1, 8] (1 = no zoom)")

    @classmethod
    def disabled(cls) -> AugmentConfig:
        """No augmentation at all (validation, tests)."""
        return cls(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


def _jitter(rgb: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """Random gamma, brightness, contrast and saturation, in random order of application."""
    x = rgb.astype(np.float32) / 255.0
    if cfg.gamma > 0:
        x = x ** rng.uniform(1 - cfg.gamma, 1 + cfg.gamma)
    ops = []
    if cfg.brightness > 0:
        ops.append(("brightness", rng.uniform(1 - cfg.brightness, 1 + cfg.brightness)))
    if cfg.contrast > 0:
        ops.append(("contrast", rng.uniform(1 - cfg.contrast, 1 + cfg.contrast)))
    if cfg.saturation > 0:
        ops.append(("saturation", rng.uniform(1 - cfg.saturation, 1 + cfg.saturation)))
    for i in rng.permutation(len(ops)):
        kind, f = ops[i]
        if kind == "brightness":
            x = x * f
        else:
            grey = x @ _LUMA  # contrast blends with the mean grey level, saturation with grey
            ref = float(grey.mean()) if kind == "contrast" else grey[..., None]
            x = (x - ref) * f + ref
    return (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def augment(rgb: np.ndarray, depth: np.ndarray, cfg: AugmentConfig,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Augmented copies of (HxWx3 uint8 RGB, HxW depth); the inputs are not modified."""
    if rng.random() < cfg.flip_prob:
        rgb, depth = rgb[:, ::-1], depth[:, ::-1]
    if rng.random() < cfg.channel_swap_prob:
        rgb = rgb[..., rng.permutation(3)]
    if rng.random() < cfg.jitter_prob:
        rgb = _jitter(rgb, cfg, rng)
    return np.ascontiguousarray(rgb), np.ascontiguousarray(depth)


def zoom_crop(rgb: np.ndarray, depth: np.ndarray, cfg: AugmentConfig,
              rng: np.random.Generator, cy: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """With probability zoom_prob, the same 1/z crop (aspect kept) of image and depth.

    As a longer lens would see it, the crop keeps the principal point's row `cy` (default: the
    image centre) at the same relative height, so the horizon stays where it was (a network
    reads much of its depth from the vertical position); its horizontal place is random.
    Draws from `rng` only when zoom_prob > 0, so other augmentation streams stay unchanged.
    The caller reads the zoom from the crop's width (the focal length grows by W / w_crop).
    """
    if cfg.zoom_prob <= 0 or cfg.zoom_max <= 1.0 or rng.random() >= cfg.zoom_prob:
        return rgb, depth
    h, w = depth.shape[:2]
    z = rng.uniform(1.0, cfg.zoom_max)
    ch, cw = max(2, round(h / z)), max(2, round(w / z))
    v = min(max((h / 2 if cy is None else cy) / h, 0.0), 1.0)
    top, left = round((h - ch) * v), int(rng.integers(0, w - cw + 1))
    return (rgb[top:top + ch, left:left + cw], depth[top:top + ch, left:left + cw])
