"""DepthNet Nano (Wang, Famouri, Wong, NeurIPS 2020 ML4AD workshop).

A densely connected, self-normalizing (SELU) encoder-decoder for monocular depth:
conv7x7 stem, four dense stages of PBEP modules separated by 1x1 transitions, a decoder of
four upsampling blocks made of EP modules with encoder skips, and a 3x3 output conv whose
result is upsampled to the input size. The output is DenseDepth's inverse parameterization
``o = max_depth / depth`` (see :mod:`depthnet_nano_ros.model.depth_param`).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from depthnet_nano_ros.model.blocks import DenseStage, Transition, UpBlock, make_pool, upsample
from depthnet_nano_ros.model.config import DepthNetNanoConfig

#: Input height and width must be multiples of this (five halvings).
INPUT_MULTIPLE = 32


class Encoder(nn.Module):
    """Stem and dense stages; returns the skip features from fine to coarse and the bottleneck."""

    def __init__(self, cfg: DepthNetNanoConfig) -> None:
        super().__init__()
        pad = cfg.stem_kernel // 2
        self.stem = nn.Sequential(
            nn.Conv2d(cfg.in_chs, cfg.stem_chs, cfg.stem_kernel, stride=2, padding=pad),
            nn.SELU(),
        )
        self.stem_pool = make_pool(cfg.pool)
        stages, transitions = [], []
        chs = cfg.stem_chs
        self.skip_chs = [cfg.stem_chs, cfg.stem_chs]
        for i, sc in enumerate(cfg.stages):
            stage = DenseStage(chs, sc.growth, sc.proj_chs, round(sc.proj_chs * sc.expand_ratio))
            stages.append(stage)
            transitions.append(Transition(stage.out_chs, sc.out_chs, cfg.pool if sc.pool else None))
            chs = sc.out_chs
            if i < len(cfg.stages) - 2:  # inputs of stages 2 and 3 are decoder skips
                self.skip_chs.append(chs)
        self.stages = nn.ModuleList(stages)
        self.transitions = nn.ModuleList(transitions)
        self.out_chs = chs

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        stem = self.stem(x)
        x = self.stem_pool(stem)
        skips = [stem, x]
        for i, (stage, transition) in enumerate(zip(self.stages, self.transitions, strict=True)):
            x = transition(stage(x))
            if i < len(self.stages) - 2:
                skips.append(x)
        return skips, x


class Decoder(nn.Module):
    """Upsampling blocks from the bottleneck back to half resolution, then the 3x3 depth conv."""

    def __init__(self, cfg: DepthNetNanoConfig, in_chs: int, skip_chs: list[int]) -> None:
        super().__init__()
        blocks = []
        chs = in_chs
        # Coarsest skip first: the decoder climbs back up the encoder.
        stages = zip(cfg.decoder_chs, cfg.decoder_expand_ratio, reversed(skip_chs), strict=True)
        for out_chs, ratio, skip in stages:
            blocks.append(UpBlock(chs, skip, out_chs, ratio, cfg.upsample))
            chs = out_chs[1]
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Conv2d(chs, 1, 3, padding=1)

    def forward(self, skips: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        for block, skip in zip(self.blocks, reversed(skips), strict=True):
            x = block(x, skip)
        return self.head(x)


class DepthNetNano(nn.Module):
    """DepthNet Nano: (B, 3, H, W) normalized RGB -> (B, 1, H, W) inverse depth ``max_depth/d``."""

    def __init__(self, cfg: DepthNetNanoConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or DepthNetNanoConfig()
        self.encoder = Encoder(self.cfg)
        self.decoder = Decoder(self.cfg, self.encoder.out_chs, self.encoder.skip_chs)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """LeCun-normal initialisation (the one SELU's self-normalization assumes)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
                nn.init.normal_(m.weight, 0.0, 1.0 / math.sqrt(fan_in))
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if not torch.jit.is_tracing() and (h % INPUT_MULTIPLE or w % INPUT_MULTIPLE):
            raise ValueError(
                f"DepthNetNano input is {h}x{w}; height and width must be multiples of "
                f"{INPUT_MULTIPLE} (resize or pad with depthnet_nano_ros.model.transforms)"
            )
        skips, x = self.encoder(x)
        return upsample(self.decoder(skips, x), (h, w), self.cfg.upsample)
