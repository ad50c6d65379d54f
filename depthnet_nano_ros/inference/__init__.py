"""Inference: DepthEstimator over torch / onnxruntime / TensorRT / torch2trt, export, bench."""

from depthnet_nano_ros.inference.errors import InferenceError
from depthnet_nano_ros.inference.estimator import DepthEstimator, DepthPrediction

__all__ = ["DepthEstimator", "DepthPrediction", "InferenceError"]
