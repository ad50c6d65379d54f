"""Converter-friendly twins of model modules (no in-place writes into preallocated buffers).

DenseStage writes module outputs into one preallocated buffer in eager mode; converters that
hook torch functions (torch2trt) cannot follow slice assignment, so they get this
concatenating forward instead — the same function, computed by torch.cat.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from depthnet_nano_ros.model.blocks import DenseStage


class ConcatDenseStage(nn.Module):
    """DenseStage computed with torch.cat (shares the original blocks)."""

    def __init__(self, stage: DenseStage) -> None:
        super().__init__()
        self.blocks = stage.blocks

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for block in self.blocks:
            feats.append(block(torch.cat(feats, 1)))
        return torch.cat(feats, 1)


def with_concat_stages(model: nn.Module) -> nn.Module:
    """A copy of `model` whose DenseStages concatenate (for torch2trt and similar tracers)."""
    model = copy.deepcopy(model)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, DenseStage):
                setattr(parent, name, ConcatDenseStage(child))
    return model
