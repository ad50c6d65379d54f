"""Focal-length bookkeeping: the network's metric depth refers to one focal length.

A monocular network judges distance by apparent size, so its metric output is tied to the focal
length (in pixels, at the network's input resolution) of the images it was trained on. Training
rescales every target to that *reference focal* ``f_ref`` (``d * f_ref / f_net``); inference
undoes it for the actual camera (``d_net * f_net / f_ref``), where ``f_net`` is the camera's
horizontal focal length after the image is resized to the network input.
"""

from __future__ import annotations

import math

__all__ = ["KITTI_FX_PX", "KITTI_WIDTH_PX", "depth_scale", "kitti_reference_focal",
           "network_focal_px"]

#: KITTI raw 2011_09_26 camera 2 (P_rect_02[0, 0]) and its rectified image width.
KITTI_FX_PX = 721.5377
KITTI_WIDTH_PX = 1242


def _check_focal(value: float, what: str) -> float:
    """Return `value` as float if it is a finite positive focal length, else raise ValueError."""
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{what} must be a finite focal length > 0 px, got {value!r}")
    return value


def network_focal_px(fx_image: float, image_width: int, net_width: int) -> float:
    """Horizontal focal length (px) once an `image_width`-wide image is resized to `net_width`."""
    if image_width <= 0 or net_width <= 0:
        raise ValueError(f"image and network widths must be > 0, got {image_width}, {net_width}")
    return _check_focal(fx_image, "fx") * net_width / image_width


def depth_scale(f_net: float, f_ref: float) -> float:
    """Factor turning the network's depth (valid for focal `f_ref`) into depth for focal `f_net`."""
    return _check_focal(f_net, "camera focal") / _check_focal(f_ref, "reference focal")


def kitti_reference_focal(net_width: int) -> float:
    """KITTI camera 2's focal length at a network input `net_width` pixels wide."""
    return network_focal_px(KITTI_FX_PX, KITTI_WIDTH_PX, net_width)
