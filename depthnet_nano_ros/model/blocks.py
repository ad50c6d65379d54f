"""Building blocks of DepthNet Nano: PBEP and EP modules, dense stages, upsampling blocks.

SELU is the only activation. BatchNorm appears only inside PBEP modules.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv1x1(in_chs: int, out_chs: int, bias: bool = True) -> nn.Conv2d:
    """Pointwise convolution."""
    return nn.Conv2d(in_chs, out_chs, 1, bias=bias)


def dwconv3x3(chs: int) -> nn.Conv2d:
    """Depthwise 3x3 convolution, stride 1, same padding."""
    return nn.Conv2d(chs, chs, 3, padding=1, groups=chs)


def make_pool(kind: str) -> nn.Module:
    """2x2 stride-2 pooling of the given kind ("avg" or "max")."""
    if kind == "avg":
        return nn.AvgPool2d(2)
    if kind == "max":
        return nn.MaxPool2d(2)
    raise ValueError(f"pool must be 'avg' or 'max', got {kind!r}")


class EPModule(nn.Module):
    """Expansion-projection: 1x1 expand -> SELU -> 3x3 depthwise -> SELU -> 1x1 project -> SELU."""

    def __init__(self, in_chs: int, mid_chs: int, out_chs: int) -> None:
        super().__init__()
        self.expand = conv1x1(in_chs, mid_chs)
        self.dw = dwconv3x3(mid_chs)
        self.project = conv1x1(mid_chs, out_chs)
        self.act = nn.SELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.expand(x))
        x = self.act(self.dw(x))
        return self.act(self.project(x))


class PBEPModule(nn.Module):
    """Projection-BatchNorm-expansion-projection: 1x1 project -> BN -> EP module."""

    def __init__(self, in_chs: int, proj_chs: int, mid_chs: int, out_chs: int) -> None:
        super().__init__()
        self.project_in = conv1x1(in_chs, proj_chs, bias=False)
        self.bn = nn.BatchNorm2d(proj_chs)
        self.ep = EPModule(proj_chs, mid_chs, out_chs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ep(self.bn(self.project_in(x)))


class DenseStage(nn.Module):
    """Densely connected PBEP modules: module k sees the stage input and outputs 1..k-1.

    At inference (no autograd) features are written into one preallocated buffer, so the growing
    concatenation is never re-copied (each module reads a prefix slice of it); training uses
    plain concatenation.
    """

    def __init__(self, in_chs: int, growth: tuple[int, ...], proj_chs: int, mid_chs: int) -> None:
        super().__init__()
        self.in_chs = in_chs
        self.offsets: list[int] = []
        chs = in_chs
        blocks = []
        for out_chs in growth:
            self.offsets.append(chs)
            blocks.append(PBEPModule(chs, proj_chs, mid_chs, out_chs))
            chs += out_chs
        self.blocks = nn.ModuleList(blocks)
        self.out_chs = chs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The buffer is overwritten in place, which autograd cannot differentiate through, and
        # tracing/ONNX want plain Concat: both take the (numerically identical) concat path.
        if torch.is_grad_enabled() or torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
            feats = [x]
            for block in self.blocks:
                feats.append(block(torch.cat(feats, 1)))
            return torch.cat(feats, 1)
        n, _, h, w = x.shape
        buf = x.new_empty((n, self.out_chs, h, w))
        buf[:, : self.in_chs] = x
        for block, start in zip(self.blocks, self.offsets, strict=True):
            out = block(buf[:, :start])
            buf[:, start : start + out.shape[1]] = out
        return buf


class Transition(nn.Module):
    """1x1 conv -> SELU, then 2x2 pooling when the stage halves the resolution."""

    def __init__(self, in_chs: int, out_chs: int, pool: str | None) -> None:
        super().__init__()
        self.conv = conv1x1(in_chs, out_chs)
        self.act = nn.SELU()
        self.pool = make_pool(pool) if pool else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.act(self.conv(x)))


class UpBlock(nn.Module):
    """Decoder block (upconv A/B): upsample, concat the encoder skip, EP module A, EP module B."""

    def __init__(
        self, in_chs: int, skip_chs: int, out_chs: tuple[int, int], expand_ratio: float, mode: str
    ) -> None:
        super().__init__()
        cat_chs = in_chs + skip_chs
        a_chs, b_chs = out_chs
        self.mode = mode
        self.conv_a = EPModule(cat_chs, max(1, round(cat_chs * expand_ratio)), a_chs)
        self.conv_b = EPModule(a_chs, max(1, round(a_chs * expand_ratio)), b_chs)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = upsample(x, skip.shape[-2:], self.mode)
        return self.conv_b(self.conv_a(torch.cat([x, skip], 1)))


def upsample(x: torch.Tensor, size: torch.Size | tuple[int, int], mode: str) -> torch.Tensor:
    """Resize to `size` (bilinear: align_corners=False, i.e. ONNX half_pixel)."""
    if mode == "nearest":
        return F.interpolate(x, size=tuple(size), mode="nearest")
    return F.interpolate(x, size=tuple(size), mode=mode, align_corners=False)
