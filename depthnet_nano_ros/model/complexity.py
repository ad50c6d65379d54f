"""Parameter and MAC counting from a real forward pass, plus NetScore (paper Eq. 2)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass
class Complexity:
    """Parameters, multiply-accumulates and a per-top-level-block breakdown."""

    params: int
    macs: int
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    breakdown: dict[str, dict[str, int]] = field(default_factory=dict)


def _layer_macs(module: nn.Module, out: torch.Tensor) -> int:
    """MACs of one conv or linear layer given its output tensor."""
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return out.numel() * (module.in_channels // module.groups) * kh * kw
    if isinstance(module, nn.Linear):
        return out.numel() * module.in_features
    return 0


def _stage_names(model: nn.Module) -> dict[nn.Module, str]:
    """Breakdown bucket of each conv/linear leaf: its parent's path, at most 3 levels deep."""
    names = {}
    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            parent = name.split(".")[:-1] or [name]
            names[m] = ".".join(parent[:3])
    return names


@torch.no_grad()
def count_complexity(model: nn.Module, input_shape: tuple[int, ...]) -> Complexity:
    """Count params and conv/linear MACs by running `model` on zeros of `input_shape`."""
    names = _stage_names(model)
    breakdown: dict[str, dict[str, int]] = {}
    for m, bucket in names.items():
        entry = breakdown.setdefault(bucket, {"params": 0, "macs": 0})
        entry["params"] += sum(p.numel() for p in m.parameters())
    macs = [0]

    def hook(module: nn.Module, _inp: object, out: torch.Tensor) -> None:
        n = _layer_macs(module, out)
        macs[0] += n
        breakdown[names[module]]["macs"] += n

    handles = [m.register_forward_hook(hook) for m in names]
    was_training = model.training
    model.eval()
    try:
        out = model(torch.zeros(input_shape))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    params = sum(p.numel() for p in model.parameters())
    return Complexity(params, macs[0], tuple(input_shape), tuple(out.shape), breakdown)


def netscore(accuracy: float, params: int, macs: int, kappa: float = 0.7,
             beta: float = 0.15, gamma: float = 0.15) -> float:
    """NetScore Omega = 20 log10(a^kappa / (p^beta m^gamma)), a in percent, p and m in millions."""
    a = accuracy * 100.0
    return 20.0 * math.log10(a**kappa / ((params / 1e6) ** beta * (macs / 1e6) ** gamma))
