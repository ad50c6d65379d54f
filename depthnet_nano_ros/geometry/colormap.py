"""Colorize depth maps: a vectorized 256-entry LUT (turbo or gray); NaN/invalid pixels black.

Used by the depth node's color output, `depthnet_nano predict` and the evaluation report, so
every picture of depth in the project looks the same.
"""

from __future__ import annotations

import numpy as np

# Turbo (Google, 2019) as its published degree-5 polynomial fit per channel.
_TURBO_COEFFS = np.array([
    [0.13572138, 4.61539260, -42.66032258, 132.13108234, -152.94239396, 59.28637943],
    [0.09140261, 2.19418839, 4.84296658, -14.18503333, 4.27729857, 2.82956604],
    [0.10667330, 12.64194608, -60.58204836, 110.36276771, -89.90310912, 27.34824973],
])


def _turbo_lut() -> np.ndarray:
    """256x3 uint8 turbo table."""
    t = np.linspace(0.0, 1.0, 256)
    powers = np.stack([t**k for k in range(6)])  # 6x256
    rgb = np.clip(_TURBO_COEFFS @ powers, 0.0, 1.0).T
    return np.round(rgb * 255.0).astype(np.uint8)


def _gray_lut() -> np.ndarray:
    """256x3 uint8 gray ramp."""
    return np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)


LUTS: dict[str, np.ndarray] = {"turbo": _turbo_lut(), "gray": _gray_lut()}


def colorize(depth: np.ndarray, vmin: float, vmax: float, cmap: str = "turbo",
             zero_invalid: bool = True) -> np.ndarray:
    """HxW depth -> HxWx3 uint8; vmin maps to the LUT's start, vmax to its end.

    Non-finite pixels (and, with `zero_invalid`, depth <= 0, the "no measurement" value of
    sparse lidar depth) are black.
    """
    lut = LUTS.get(cmap)
    if lut is None:
        raise ValueError(f"unknown colormap {cmap!r}; choose one of {sorted(LUTS)}")
    depth = np.asarray(depth, dtype=np.float32)
    if depth.ndim != 2:
        raise ValueError(f"colorize expects an HxW depth map, got shape {depth.shape}")
    if not (np.isfinite(vmin) and np.isfinite(vmax)) or vmax <= vmin:
        raise ValueError(f"colorize needs finite vmin < vmax, got vmin={vmin} vmax={vmax}")
    valid = np.isfinite(depth)
    if zero_invalid:
        valid &= depth > 0
    scaled = (np.where(valid, depth, vmin) - np.float32(vmin)) * np.float32(255.0 / (vmax - vmin))
    idx = (np.clip(scaled, 0.0, 255.0) + 0.5).astype(np.uint8)
    out = np.take(lut, idx, axis=0)  # much faster than fancy indexing here
    out[~valid] = 0
    return out
