"""One config object for DepthNet Nano: every choice the paper leaves open lives here.

Defaults reproduce the paper's model (Table 3, 384x1280: 1.75 M params, 4.66 G MACs).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class StageConfig:
    """One densely connected encoder stage of PBEP modules plus its 1x1 transition conv."""

    growth: tuple[int, ...]  # output channels of each PBEP module (Table 3, filled where elided)
    proj_chs: int  # width of each PBEP module's first 1x1 projection
    expand_ratio: float  # expansion width = expand_ratio * proj_chs
    out_chs: int  # transition conv output channels (Table 3 "conv1x1-pool")
    pool: bool = True  # whether the transition halves the resolution


def _fill(listed: dict[int, int], count: int, default: int) -> tuple[int, ...]:
    """Module widths with Table 3's listed values and `default` for the elided ones."""
    return tuple(listed.get(i + 1, default) for i in range(count))


# Table 3 lists some PBEP widths per stage and elides the rest ("..."); elided modules take
# the rounded mean of the listed widths of their stage.
_STAGE1 = _fill({1: 13, 2: 15, 3: 18, 4: 13, 6: 17}, 6, 15)
_STAGE2 = _fill({1: 9, 2: 13, 3: 13, 4: 18, 12: 19}, 12, 14)
_STAGE3 = _fill({1: 13, 2: 14, 3: 18, 4: 15, 32: 14}, 32, 15)
_STAGE4 = _fill({1: 17, 2: 13, 3: 14, 4: 12, 32: 11}, 32, 13)


@dataclass(frozen=True)
class DepthNetNanoConfig:
    """Architecture of DepthNet Nano; the defaults are the paper's model."""

    in_chs: int = 3
    stem_chs: int = 14  # conv7x7 (stride 2) output, Table 3 "conv7x7-pool 192x640x14"
    stem_kernel: int = 7
    stages: tuple[StageConfig, ...] = (
        StageConfig(_STAGE1, proj_chs=16, expand_ratio=4.0, out_chs=30),
        StageConfig(_STAGE2, proj_chs=16, expand_ratio=4.0, out_chs=79),
        StageConfig(_STAGE3, proj_chs=24, expand_ratio=4.0, out_chs=117),
        StageConfig(_STAGE4, proj_chs=48, expand_ratio=4.0, out_chs=176, pool=False),
    )
    # (A, B) output channels of the four decoder upsampling blocks, Table 3 upconv 1A..4B.
    decoder_chs: tuple[tuple[int, int], ...] = ((86, 112), (47, 48), (28, 25), (17, 24))
    # EP expansion width = ratio * EP input channels, per decoder block (coarse to fine).
    # Projection widths and expansion ratios are not in the paper: they were chosen so the
    # model lands on its published complexity (1.755 M params, 4.636 G MACs at 384x1280).
    decoder_expand_ratio: tuple[float, ...] = (1.0, 1.0, 2.0, 2.0)
    pool: str = "avg"  # "avg" or "max": pooling after the stem and in transitions
    upsample: str = "bilinear"  # decoder and output upsampling mode (ONNX Resize linear)
    min_depth: float = 1.0  # metres; output o = max_depth / depth, clamped to this range
    max_depth: float = 80.0
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form for checkpoints and JSON."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DepthNetNanoConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise TypeError naming them."""
        data = dict(data)
        stages = tuple(
            StageConfig(**{**s, "growth": tuple(s["growth"])}) for s in data.pop("stages", ())
        )
        kwargs: dict[str, Any] = {**data}
        if stages:
            kwargs["stages"] = stages
        if "decoder_chs" in kwargs:
            kwargs["decoder_chs"] = tuple(tuple(p) for p in kwargs["decoder_chs"])
        if "decoder_expand_ratio" in kwargs:
            kwargs["decoder_expand_ratio"] = tuple(kwargs["decoder_expand_ratio"])
        return cls(**kwargs)
