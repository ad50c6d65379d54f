"""The evaluation pillar's exception."""

from depthnet_nano_ros.errors import DepthNetNanoError


class EvaluationError(DepthNetNanoError):
    """Evaluation input is unusable (bag, topics, calibration, pairs, settings)."""
