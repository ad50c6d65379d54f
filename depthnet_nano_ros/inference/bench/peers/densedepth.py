"""DenseDepth-KITTI peer (Alhashim & Wonka 2018): DenseNet-169 encoder + upsampling decoder.

Plain torch (no torchvision), random weights: a speed reference. At 384x1280 it has
42.8 M parameters and ~196 GMACs, the paper's Table 1 figures. The output is at half the
input resolution, as in DenseDepth.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: DenseNet-169: growth 32, 4x bottleneck, 64 stem channels, blocks of 6/12/32/32 layers.
DENSENET169 = {"growth": 32, "bn_size": 4, "init_chs": 64, "blocks": (6, 12, 32, 32)}


class DenseLayer(nn.Module):
    """BN-ReLU-conv1x1 (4k) -> BN-ReLU-conv3x3 (k); its output is concatenated to its input."""

    def __init__(self, in_chs: int, growth: int, bn_size: int) -> None:
        super().__init__()
        mid = bn_size * growth
        self.norm1, self.conv1 = nn.BatchNorm2d(in_chs), nn.Conv2d(in_chs, mid, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, growth, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv1(F.relu(self.norm1(x)))
        return torch.cat([x, self.conv2(F.relu(self.norm2(y)))], 1)


class TransitionLayer(nn.Sequential):
    """BN-ReLU-conv1x1 (halve channels) -> 2x2 average pool."""

    def __init__(self, in_chs: int, out_chs: int) -> None:
        super().__init__(nn.BatchNorm2d(in_chs), nn.ReLU(), nn.Conv2d(in_chs, out_chs, 1,
                                                                       bias=False),
                         nn.AvgPool2d(2))


class DenseNetEncoder(nn.Module):
    """DenseNet-169 features; returns the skips DenseDepth taps and the final normalized map."""

    def __init__(self, growth: int, bn_size: int, init_chs: int, blocks: tuple[int, ...]) -> None:
        super().__init__()
        self.conv0 = nn.Conv2d(3, init_chs, 7, stride=2, padding=3, bias=False)
        self.norm0 = nn.BatchNorm2d(init_chs)
        self.pool0 = nn.MaxPool2d(3, stride=2, padding=1)
        chs, stages = init_chs, []
        self.skip_chs = [init_chs, init_chs]
        for i, n in enumerate(blocks):
            layers: list[nn.Module] = []
            for _ in range(n):
                layers.append(DenseLayer(chs, growth, bn_size))
                chs += growth
            if i < len(blocks) - 1:
                layers.append(TransitionLayer(chs, chs // 2))
                chs //= 2
                if i < len(blocks) - 2:
                    self.skip_chs.append(chs)
            stages.append(nn.Sequential(*layers))
        self.stages = nn.ModuleList(stages)
        self.norm5 = nn.BatchNorm2d(chs)
        self.out_chs = chs

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        x0 = F.relu(self.norm0(self.conv0(x)))
        x = self.pool0(x0)
        skips = [x0, x]
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i < len(self.stages) - 2:
                skips.append(x)
        return skips, self.norm5(x)


class UpSample(nn.Module):
    """Bilinear upsample to the skip's size, concat, two 3x3 convs with LeakyReLU(0.2)."""

    def __init__(self, in_chs: int, out_chs: int) -> None:
        super().__init__()
        self.conv_a = nn.Conv2d(in_chs, out_chs, 3, padding=1)
        self.conv_b = nn.Conv2d(out_chs, out_chs, 3, padding=1)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        x = F.leaky_relu(self.conv_a(torch.cat([x, skip], 1)), 0.2)
        return F.leaky_relu(self.conv_b(x), 0.2)


class DenseDepth(nn.Module):
    """DenseDepth: (B,3,H,W) -> (B,1,H/2,W/2); decoder width 1.0 (DenseDepth's PyTorch model)."""

    def __init__(self, decoder_width: float = 1.0) -> None:
        super().__init__()
        self.encoder = DenseNetEncoder(**DENSENET169)
        feats = int(self.encoder.out_chs * decoder_width)
        self.conv2 = nn.Conv2d(self.encoder.out_chs, feats, 1)
        skips = self.encoder.skip_chs  # [64 (H/2), 64 (H/4), 128 (H/8), 256 (H/16)]
        ups = []
        for i, skip in enumerate(reversed(skips)):
            ups.append(UpSample(feats // 2**i + skip, feats // 2 ** (i + 1)))
        self.ups = nn.ModuleList(ups)
        self.conv3 = nn.Conv2d(feats // 2 ** len(ups), 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips, x = self.encoder(x)
        x = self.conv2(x)
        for up, skip in zip(self.ups, reversed(skips), strict=True):
            x = up(x, skip)
        return self.conv3(x)
