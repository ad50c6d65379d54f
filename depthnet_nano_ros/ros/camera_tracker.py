"""The camera a depth node is looking through: the latest CameraInfo, its intrinsics and focal
length for each frame's size, and a note when the image size or the focal length changes."""

from __future__ import annotations

from sensor_msgs.msg import CameraInfo

from depthnet_nano_ros.geometry.camera import (
    Intrinsics,
    focal_from_camera_info,
    intrinsics_from_camera_info,
)

__all__ = ["CameraTracker"]


def _fx_text(fx: float | None) -> str:
    """A focal length for a log line."""
    return "unknown" if fx is None else f"{fx:.1f} px"


class CameraTracker:
    """Latest CameraInfo (set by the subscription) and what each frame needs of it."""

    def __init__(self) -> None:
        self.info: CameraInfo | None = None
        self._seen: tuple[int, int, float | None] | None = None  # (w, h, fx) of the last frame

    def intrinsics(self, size: tuple[int, int]) -> tuple[CameraInfo, Intrinsics] | None:
        """(CameraInfo, intrinsics for an image of `size` = (h, w)); None without CameraInfo.

        Raises DepthNetNanoError when the CameraInfo does not fit the image or is implausible.
        """
        info = self.info
        if info is None:
            return None
        return info, intrinsics_from_camera_info(info.p, info.width, info.height, size)

    def focal(self, image_width: int) -> float | None:
        """fx (px) of the latest CameraInfo for an image `image_width` wide; None without one."""
        info = self.info
        return None if info is None else focal_from_camera_info(info.p, info.k, info.width,
                                                                image_width)

    def change(self, width: int, height: int, fx: float | None) -> str | None:
        """A log line when size or focal differ from the previous frame's, else None."""
        seen, self._seen = self._seen, (width, height, fx)
        if seen is None or seen == self._seen:
            return None
        return (f"input changed: {seen[0]}x{seen[1]} (fx {_fx_text(seen[2])}) -> "
                f"{width}x{height} (fx {_fx_text(fx)}); depth, cloud, scan and the metric scale "
                "follow, the network keeps its input size")
