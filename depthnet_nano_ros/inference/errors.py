"""The inference pillar's exception."""

from depthnet_nano_ros.errors import DepthNetNanoError


class InferenceError(DepthNetNanoError):
    """A backend, engine or exported artifact cannot be used; the message says why and the fix."""
