"""DepthNet Nano network, its config, complexity counter, transforms and checkpoints."""

from depthnet_nano_ros.model.checkpoint import (
    CheckpointError,
    CheckpointInfo,
    default_checkpoint_path,
    load_checkpoint,
    save_checkpoint,
)
from depthnet_nano_ros.model.complexity import Complexity, count_complexity, netscore
from depthnet_nano_ros.model.config import DepthNetNanoConfig, StageConfig
from depthnet_nano_ros.model.depth_param import depth_to_output, output_to_depth
from depthnet_nano_ros.model.depthnet_nano import INPUT_MULTIPLE, DepthNetNano

__all__ = [
    "CheckpointError", "CheckpointInfo", "Complexity", "DepthNetNano", "DepthNetNanoConfig",
    "INPUT_MULTIPLE", "StageConfig", "count_complexity", "default_checkpoint_path",
    "depth_to_output", "load_checkpoint", "netscore", "output_to_depth", "save_checkpoint",
]
