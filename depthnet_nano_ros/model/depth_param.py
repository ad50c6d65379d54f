"""DenseDepth's output parameterization: the network predicts o = max_depth / depth.

With KITTI's range [min_depth, max_depth] = [1, 80] m, o lies in [1, 80]; near objects get
large values, which spreads the loss's resolution where it matters. Convert with
:func:`output_to_depth` (metres) and :func:`depth_to_output` (training targets).
"""

from __future__ import annotations

import numpy as np
import torch

DEFAULT_MIN_DEPTH = 1.0
DEFAULT_MAX_DEPTH = 80.0


def output_to_depth(out: torch.Tensor, min_depth: float = DEFAULT_MIN_DEPTH,
                    max_depth: float = DEFAULT_MAX_DEPTH) -> torch.Tensor:
    """Network output o -> metric depth max_depth / o, clamped to [min_depth, max_depth]."""
    o = out.clamp(min=max_depth / max_depth, max=max_depth / min_depth)
    return max_depth / o


def depth_to_output(depth: torch.Tensor, min_depth: float = DEFAULT_MIN_DEPTH,
                    max_depth: float = DEFAULT_MAX_DEPTH) -> torch.Tensor:
    """Metric depth -> training target max_depth / depth (depth clamped to the range first)."""
    return max_depth / depth.clamp(min=min_depth, max=max_depth)


def output_to_depth_np(out: np.ndarray, min_depth: float = DEFAULT_MIN_DEPTH,
                       max_depth: float = DEFAULT_MAX_DEPTH) -> np.ndarray:
    """NumPy twin of :func:`output_to_depth` for engines that return arrays (float32)."""
    o = np.clip(out, 1.0, max_depth / min_depth).astype(np.float32, copy=False)
    return (np.float32(max_depth) / o).astype(np.float32, copy=False)
