"""Pinhole intrinsics from sensor_msgs/CameraInfo fields, validated (ROS-free)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from depthnet_nano_ros.errors import DepthNetNanoError


class CameraInfoError(DepthNetNanoError):
    """A CameraInfo that cannot describe the image it comes with."""


#: Plausible focal lengths, as multiples of the larger image side: 0.05 is a 169 degree field
#: of view, 100 a 0.6 degree one. Outside, float32 clouds degenerate (x = 0, inf or 1e9 m).
FOCAL_RANGE = (0.05, 100.0)
#: The principal point may lie at most this many image sizes outside the image.
PRINCIPAL_MARGIN = 1.0


@dataclass(frozen=True)
class Intrinsics:
    """fx, fy, cx, cy in pixels for an image of width x height (image_geometry's P convention)."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int


def intrinsics_from_camera_info(p: Sequence[float], width: int, height: int,
                                image_size: tuple[int, int] | None = None) -> Intrinsics:
    """CameraInfo P (3x4, row-major) and size -> Intrinsics, as image_geometry reads them.

    `image_size` = (height, width) of the image the info is used with; a different size, a zero
    or non-finite focal length or principal point raise CameraInfoError.
    """
    proj = np.asarray(p, dtype=np.float64).reshape(-1)
    if proj.size != 12:
        raise CameraInfoError(f"CameraInfo P has {proj.size} values, expected 12 (3x4)")
    proj = proj.reshape(3, 4)
    fx, fy, cx, cy = proj[0, 0], proj[1, 1], proj[0, 2], proj[1, 2]
    if not np.all(np.isfinite([fx, fy, cx, cy])):
        raise CameraInfoError(
            f"CameraInfo P has non-finite intrinsics (fx={fx}, fy={fy}, cx={cx}, cy={cy}); "
            "recalibrate the camera"
        )
    if fx == 0.0 or fy == 0.0:
        raise CameraInfoError(
            f"CameraInfo P has zero focal length (fx={fx}, fy={fy}): the camera is uncalibrated; "
            "publish a calibrated CameraInfo (P[0]=fx, P[5]=fy)"
        )
    if image_size is not None and (int(height), int(width)) != tuple(image_size):
        raise CameraInfoError(
            f"CameraInfo size {width}x{height} differs from the image size "
            f"{image_size[1]}x{image_size[0]}; remap camera_info to the info of this image"
        )
    check_plausible(float(fx), float(fy), float(cx), float(cy), int(width), int(height))
    return Intrinsics(float(fx), float(fy), float(cx), float(cy), int(width), int(height))


def focal_from_camera_info(p: Sequence[float], k: Sequence[float], width: int,
                           image_width: int) -> float | None:
    """Horizontal focal length (px) for an `image_width`-wide image: P[0], else K[0], else None.

    A CameraInfo of another width (`width` > 0) is taken to describe a resized image: fx scales
    with the width ratio.
    """
    fx = None
    for values in (p, k):
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        if v.size and np.isfinite(v[0]) and v[0] > 0:
            fx = float(v[0])
            break
    if fx is None:
        return None
    if width > 0 and image_width > 0 and int(width) != int(image_width):
        fx *= image_width / width
    return fx


def check_plausible(fx: float, fy: float, cx: float, cy: float, width: int, height: int) -> None:
    """Raise CameraInfoError for intrinsics no real camera of this size has (see FOCAL_RANGE)."""
    if fx < 0 or fy < 0:
        raise CameraInfoError(
            f"CameraInfo P has a negative focal length (fx={fx}, fy={fy}): that mirrors the "
            "cloud; publish positive P[0] and P[5] (flip the image itself if it is mirrored)"
        )
    side = max(int(width), int(height))
    lo, hi = FOCAL_RANGE[0] * side, FOCAL_RANGE[1] * side
    for name, f in (("fx", fx), ("fy", fy)):
        if not lo <= f <= hi:
            raise CameraInfoError(
                f"CameraInfo P has an implausible focal length {name}={f:g} px for a "
                f"{width}x{height} image (expected {lo:g} to {hi:g} px, a 169 to 0.6 degree "
                "field of view); publish the calibrated P (focal lengths in pixels)"
            )
    m = PRINCIPAL_MARGIN
    for name, c, size in (("cx", cx, width), ("cy", cy, height)):
        if not -m * size <= c <= (1 + m) * size:
            raise CameraInfoError(
                f"CameraInfo P has its principal point {name}={c:g} px far outside the "
                f"{width}x{height} image (expected {-m * size:g} to {(1 + m) * size:g} px); "
                "publish the calibrated P (P[2]=cx, P[6]=cy in pixels)"
            )
