"""The synthetic drive's exception."""

from __future__ import annotations

from depthnet_nano_ros.kitti.errors import KittiError


class SynthDriveError(KittiError):
    """The synthetic drive cannot be made as asked; the message says what to change."""
