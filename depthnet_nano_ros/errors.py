"""Base exception of depthnet_nano_ros; each pillar derives its own from it."""


class DepthNetNanoError(Exception):
    """An actionable error: the message names what is wrong and how to fix it."""
