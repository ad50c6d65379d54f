"""Validation during training: the evaluator's per-frame scoring at the network input size."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from depthnet_nano_ros.evaluation.metrics import EvalSettings, score_frame, summarize
from depthnet_nano_ros.model.depth_param import output_to_depth

__all__ = ["HIGHER_IS_BETTER", "validate"]

#: Metrics where larger is better (best-checkpoint selection).
HIGHER_IS_BETTER = frozenset({"a1", "a2", "a3", "ms_a1", "ms_a2", "ms_a3"})


@torch.no_grad()
def predict_depth(model: torch.nn.Module, image: torch.Tensor) -> torch.Tensor:
    """Metric depth (B,1,H,W) of a normalized image batch (eval mode, fp32)."""
    cfg = model.cfg
    return output_to_depth(model(image).float(), cfg.min_depth, cfg.max_depth)


def validate(model: torch.nn.Module, dataset: Dataset, device: torch.device,
             batch_size: int = 4, crop: str = "none") -> dict[str, float]:
    """Mean per-frame metrics against the dataset's depth targets at the input size.

    Keys: abs_rel, ..., a3 (metric depth) and ms_abs_rel, ..., ms_a3 (per-frame median
    scaling). No crop by default: validation targets are already what the lidar saw.
    """
    was_training = model.training
    model.eval()
    plain, scaled = EvalSettings(crop=crop), EvalSettings(crop=crop, median_scaling=True)
    raw_scores, ms_scores = [], []
    for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        pred = predict_depth(model, batch["image"].to(device)).cpu().numpy()
        gt = batch["depth"].numpy()
        for p, g in zip(pred[:, 0], gt[:, 0], strict=True):
            raw_scores.append(score_frame(g, p.astype(np.float32), plain))
            ms_scores.append(score_frame(g, p.astype(np.float32), scaled))
    model.train(was_training)
    out: dict[str, float] = {}
    for prefix, scores in (("", raw_scores), ("ms_", ms_scores)):
        for key, value in summarize(scores).items():
            if value is not None and not key.startswith("median_scale"):
                out[prefix + key] = float(value)
    return out
