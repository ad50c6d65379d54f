"""Depth image encodings of REP 118 (ROS-free): 32FC1 metres (NaN invalid) or 16UC1 millimetres
(0 invalid). The cloud and scan are made from the depth as encoded, so they agree with what a
consumer (depth_image_proc, depthimage_to_laserscan) computes from the published image."""

from __future__ import annotations

from typing import Any

import numpy as np

from depthnet_nano_ros.errors import DepthNetNanoError
from depthnet_nano_ros.geometry.image_codec import image_to_array

DEPTH_ENCODINGS = ("32FC1", "16UC1")
#: The farthest depth 16UC1 can hold (metres); farther pixels become 0 (invalid), not clipped.
MAX_16UC1_M = 65.535


class DepthEncodingError(DepthNetNanoError):
    """An unknown depth output encoding."""


def decode_depth(encoding: str, height: int, width: int, step: int, is_bigendian: int | bool,
                 data: Any) -> np.ndarray:
    """A depth image's fields -> HxW float32 metres, NaN invalid (32FC1 m or 16UC1 mm, 0 = none).

    Raises DepthEncodingError for another encoding, ImageFormatError for inconsistent fields.
    """
    if encoding not in DEPTH_ENCODINGS:
        raise DepthEncodingError(f"depth encoding {encoding!r} is not 32FC1 (m) or 16UC1 (mm)")
    arr = image_to_array(encoding, height, width, step, is_bigendian, data)
    if encoding == "32FC1":
        return np.array(arr, dtype=np.float32)
    return np.where(arr > 0, arr.astype(np.float32) * np.float32(1e-3), np.float32(np.nan))


def encode_depth(depth_m: np.ndarray, encoding: str) -> tuple[np.ndarray, np.ndarray]:
    """HxW float32 metres (NaN invalid) -> (image array, metres as a consumer reads them back)."""
    if encoding == "32FC1":
        return depth_m, depth_m
    if encoding != "16UC1":
        raise DepthEncodingError(f"depth.encoding {encoding!r}: use one of {DEPTH_ENCODINGS}")
    with np.errstate(invalid="ignore"):
        mm = np.rint(depth_m * np.float32(1000.0))
        ok = np.isfinite(mm) & (mm > 0) & (mm <= 65535)
    out = np.where(ok, mm, 0).astype(np.uint16)
    back = out.astype(np.float32) * np.float32(1e-3)
    back[~ok] = np.nan
    return out, back
