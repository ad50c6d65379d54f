"""The training pillar's exception."""

from __future__ import annotations

from depthnet_nano_ros.errors import DepthNetNanoError


class TrainingError(DepthNetNanoError):
    """A training config, data source or checkpoint is wrong; the message names it and the fix."""
