"""A small pose network for self-supervised training: two frames in, their relative pose out.

Monodepth2's pose decoder on a much smaller encoder (five stride-2 convolutions, 1/3 M
parameters), so it trains beside DepthNet Nano on a CPU. Output: axis-angle and translation
(scaled, see ROTATION_SCALE), turned into a 4x4 transform from the first frame's camera to the
second's. Only training uses it; it is not part of the exported model.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["PoseNet", "pose_matrix"]

#: output scaling: monodepth2's 0.01 for the rotation; 0.1 for the translation, since a
#: fine-tuned depth network is metric from the start and a car moves ~1 m between frames
ROTATION_SCALE, TRANSLATION_SCALE = 0.01, 0.1


def pose_matrix(axisangle: torch.Tensor, translation: torch.Tensor) -> torch.Tensor:
    """(B, 4, 4) rigid transforms from (B, 3) axis-angle vectors and (B, 3) translations."""
    angle = axisangle.norm(dim=1, keepdim=True).clamp(min=1e-7)
    axis = axisangle / angle
    x, y, z = axis[:, 0], axis[:, 1], axis[:, 2]
    zero = torch.zeros_like(x)
    skew = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], 1).reshape(-1, 3, 3)
    eye = torch.eye(3, dtype=axis.dtype, device=axis.device).expand_as(skew)
    s, c = torch.sin(angle)[..., None], torch.cos(angle)[..., None]
    rot = eye + s * skew + (1 - c) * skew @ skew  # Rodrigues
    out = torch.eye(4, dtype=axis.dtype, device=axis.device).repeat(len(axis), 1, 1)
    out[:, :3, :3] = rot
    out[:, :3, 3] = translation
    return out


class PoseNet(nn.Module):
    """(B, 6, H, W) two normalized frames -> (B, 4, 4) pose of frame 1 in frame 2's camera."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        chans = [6, width, 2 * width, 4 * width, 8 * width, 8 * width]
        layers: list[nn.Module] = []
        for cin, cout in zip(chans[:-1], chans[1:], strict=True):
            layers += [nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.ReLU(inplace=True)]
        self.encoder = nn.Sequential(*layers)
        self.head = nn.Conv2d(chans[-1], 6, 1)
        nn.init.zeros_(self.head.bias)
        nn.init.normal_(self.head.weight, std=1e-3)  # start near the identity pose

    def forward(self, pair: torch.Tensor) -> torch.Tensor:
        """Relative pose of the concatenated frames (first -> second)."""
        out = self.head(self.encoder(pair)).mean((2, 3))
        return pose_matrix(ROTATION_SCALE * out[:, :3], TRANSLATION_SCALE * out[:, 3:])
