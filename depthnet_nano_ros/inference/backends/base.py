"""What every backend offers the estimator: a normalized input in, the network output out."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Backend(Protocol):
    """A loaded network on one runtime; `run` maps (1,3,h,w) float32 to (1,1,h,w) float32 o."""

    name: str
    input_size: tuple[int, int]

    def run(self, x: np.ndarray) -> np.ndarray:
        """Network output o = max_depth / depth for one normalized input."""
        ...
