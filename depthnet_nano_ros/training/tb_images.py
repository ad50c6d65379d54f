"""TensorBoard image samples: input, target and prediction as turbo-coloured depth."""

from __future__ import annotations

import numpy as np
import torch

from depthnet_nano_ros.geometry.colormap import colorize
from depthnet_nano_ros.model.depth_param import output_to_depth
from depthnet_nano_ros.model.transforms import IMAGENET_MEAN, IMAGENET_STD

__all__ = ["sample_images"]


def sample_images(image: torch.Tensor, target: torch.Tensor, pred: torch.Tensor,
                  max_depth: float = 80.0) -> dict[str, np.ndarray]:
    """HxWx3 uint8 panels of the first sample: rgb, target depth, predicted depth."""
    rgb = image[0].cpu().numpy().transpose(1, 2, 0) * IMAGENET_STD + IMAGENET_MEAN
    rgb = (np.clip(rgb, 0, 1) * 255).astype(np.uint8)
    t = target[0, 0].cpu()
    gt = np.where(t.numpy() > 0, (max_depth / t.clamp(min=1e-6)).numpy(), 0.0)
    depth = output_to_depth(pred[0, 0].cpu(), max_depth=max_depth).numpy()
    return {"rgb": rgb, "target": colorize(gt, 1.0, max_depth),
            "prediction": colorize(depth, 1.0, max_depth)}
