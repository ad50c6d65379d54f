"""FastDepth peer (Wofk et al., ICRA 2019): MobileNet encoder + NNConv5 decoder with skip adds.

Plain torch, random weights: a speed reference. Depthwise-separable 5x5 decoder convs,
nearest-neighbour 2x upsampling and additive skips, as in FastDepth's MobileNetSkipAdd.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv_bn(in_chs: int, out_chs: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Module:
    """Conv (no bias) -> BatchNorm -> ReLU."""
    return nn.Sequential(nn.Conv2d(in_chs, out_chs, kernel, stride, kernel // 2, groups=groups,
                                   bias=False), nn.BatchNorm2d(out_chs), nn.ReLU(inplace=True))


def conv_dw(in_chs: int, out_chs: int, kernel: int = 3, stride: int = 1) -> nn.Module:
    """Depthwise-separable conv: depthwise k x k then pointwise, each with BN and ReLU."""
    return nn.Sequential(conv_bn(in_chs, in_chs, kernel, stride, groups=in_chs),
                         conv_bn(in_chs, out_chs, 1))


#: MobileNet v1 (width 1.0): (out_chs, stride) of the depthwise-separable layers after the stem.
MOBILENET_LAYERS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1),
                    (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))


class FastDepth(nn.Module):
    """FastDepth: (B,3,H,W) -> (B,1,H,W)."""

    SKIP_LAYERS = (1, 3, 5)  # encoder layers whose outputs are added in the decoder

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = [conv_bn(3, 32, 3, stride=2)]
        chs = 32
        for out_chs, stride in MOBILENET_LAYERS:
            layers.append(conv_dw(chs, out_chs, 3, stride))
            chs = out_chs
        self.encoder = nn.ModuleList(layers)
        decoder = []
        for out_chs in (512, 256, 128, 64, 32):
            decoder.append(conv_dw(chs, out_chs, 5))
            chs = out_chs
        self.decoder = nn.ModuleList(decoder)
        self.head = conv_bn(chs, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = {}
        for i, layer in enumerate(self.encoder):
            x = layer(x)
            if i in self.SKIP_LAYERS:
                skips[i] = x
        for i, layer in enumerate(self.decoder, start=1):
            x = F.interpolate(layer(x), scale_factor=2.0, mode="nearest")
            skip = {4: 1, 3: 3, 2: 5}.get(i)
            if skip is not None:
                x = x + skips[skip]
        return self.head(x)
