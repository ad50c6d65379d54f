"""The KITTI pillar's exception."""

from __future__ import annotations

from depthnet_nano_ros.errors import DepthNetNanoError


class KittiError(DepthNetNanoError):
    """A KITTI file is missing, truncated or malformed; the message names the file and the fix."""
