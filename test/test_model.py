"""DepthNet Nano: shapes, the paper's complexity, SELU-only activations, BatchNorm placement."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from depthnet_nano_ros.model import (
    DepthNetNano,
    DepthNetNanoConfig,
    count_complexity,
    depth_to_output,
    output_to_depth,
)
from depthnet_nano_ros.model.blocks import PBEPModule
from depthnet_nano_ros.model.transforms import normalize_rgb, prepare_input, resize_depth


@pytest.fixture(autouse=True)
def _no_grad():  # noqa: ANN202 - a generator fixture; no global state leaks to other modules
    with torch.no_grad():
        yield


@pytest.fixture(scope="module")
def model() -> DepthNetNano:
    return DepthNetNano().eval()


@pytest.mark.parametrize("size", [(64, 64), (96, 320), (192, 640), (128, 416)])
def test_output_shape_matches_input(model: DepthNetNano, size: tuple[int, int]) -> None:
    out = model(torch.randn(2, 3, *size))
    assert out.shape == (2, 1, *size)
    assert torch.isfinite(out).all()


def test_paper_resolution_shape(model: DepthNetNano) -> None:
    assert model(torch.zeros(1, 3, 384, 1280)).shape == (1, 1, 384, 1280)


def test_rejects_sizes_not_multiple_of_32(model: DepthNetNano) -> None:
    with pytest.raises(ValueError, match="multiples of 32"):
        model(torch.zeros(1, 3, 375, 1242))


def test_complexity_matches_paper_within_5_percent(model: DepthNetNano) -> None:
    c = count_complexity(model, (1, 3, 384, 1280))
    assert abs(c.params / 1.75e6 - 1) < 0.05, c.params
    assert abs(c.macs / 4.66e9 - 1) < 0.05, c.macs
    assert sum(e["macs"] for e in c.breakdown.values()) == c.macs


def test_table3_resolutions_and_channels(model: DepthNetNano) -> None:
    skips, bottleneck = model.encoder(torch.zeros(1, 3, 384, 1280))
    assert [tuple(s.shape[1:]) for s in skips] == [
        (14, 192, 640), (14, 96, 320), (30, 48, 160), (79, 24, 80)]
    assert tuple(bottleneck.shape[1:]) == (176, 12, 40)
    assert [len(s.blocks) for s in model.encoder.stages] == [6, 12, 32, 32]
    cfg = model.cfg
    assert [b.conv_b.project.out_channels for b in model.decoder.blocks] == [
        b for _, b in cfg.decoder_chs]


FORBIDDEN_ACTIVATIONS = {
    "relu", "relu_", "relu6", "leaky_relu", "leaky_relu_", "elu", "elu_", "celu", "gelu", "silu",
    "mish", "sigmoid", "tanh", "hardtanh", "hardswish", "hardsigmoid", "softplus", "prelu",
    "rrelu", "glu", "logsigmoid", "softsign", "threshold",
}


class _RecordCalls(TorchFunctionMode):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        self.names.add(getattr(func, "__name__", str(func)))
        return func(*args, **(kwargs or {}))


def test_selu_is_the_only_activation(model: DepthNetNano) -> None:
    act_types = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
                 nn.Sigmoid, nn.Tanh, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid, nn.Softplus,
                 nn.PReLU, nn.RReLU, nn.GLU)
    assert not [n for n, m in model.named_modules() if isinstance(m, act_types)]
    assert any(isinstance(m, nn.SELU) for m in model.modules())
    with _RecordCalls() as rec:
        model(torch.zeros(1, 3, 64, 64))
    assert "selu" in rec.names
    assert not rec.names & FORBIDDEN_ACTIVATIONS


def test_batchnorm_only_inside_pbep(model: DepthNetNano) -> None:
    inside = {id(m.bn) for m in model.modules() if isinstance(m, PBEPModule)}
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._NormBase)]
    assert norms and all(id(m) in inside for m in norms)
    assert not any(isinstance(m, (nn.GroupNorm, nn.LayerNorm, nn.InstanceNorm2d))
                   for m in model.modules())


def test_lecun_normal_init() -> None:
    torch.manual_seed(0)
    m = DepthNetNano()
    conv = m.encoder.stages[2].blocks[5].project_in
    fan_in = conv.in_channels
    assert abs(conv.weight.std().item() * fan_in**0.5 - 1) < 0.1


def test_dense_stage_buffer_matches_concatenation(model: DepthNetNano) -> None:
    stage = model.encoder.stages[0]
    x = torch.randn(1, stage.in_chs, 32, 32)
    feats = [x]
    for block in stage.blocks:
        feats.append(block(torch.cat(feats, 1)))
    torch.testing.assert_close(stage(x), torch.cat(feats, 1))


def test_config_round_trip() -> None:
    cfg = DepthNetNanoConfig()
    assert DepthNetNanoConfig.from_dict(cfg.to_dict()) == cfg
    small = dataclasses.replace(cfg, decoder_expand_ratio=(1.0, 1.0, 1.0, 1.0))
    assert DepthNetNanoConfig.from_dict(small.to_dict()) == small


def test_depth_parameterization_round_trip() -> None:
    d = torch.tensor([0.5, 1.0, 10.0, 80.0, 200.0])
    back = output_to_depth(depth_to_output(d))
    torch.testing.assert_close(back, d.clamp(1.0, 80.0))
    assert depth_to_output(torch.tensor(80.0)).item() == pytest.approx(1.0)


def test_normalization_is_imagenet_mean_std_per_channel() -> None:
    rgb = np.random.default_rng(1).integers(0, 256, (7, 9, 3), dtype=np.uint8)
    x = normalize_rgb(rgb)
    assert x.shape == (1, 3, 7, 9) and x.dtype == np.float32 and x.flags.c_contiguous
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    expected = ((rgb / 255.0 - mean) / std).transpose(2, 0, 1)[None]
    np.testing.assert_allclose(x, expected, atol=2e-6)
    np.testing.assert_array_equal(normalize_rgb(rgb[:, ::-1])[..., ::-1], x)  # any strides


def test_transforms_resize_and_restore() -> None:
    rgb = np.random.default_rng(0).integers(0, 255, (375, 1242, 3), dtype=np.uint8)
    x = prepare_input(rgb, (384, 1280))
    assert x.shape == (1, 3, 384, 1280) and x.dtype == np.float32
    assert resize_depth(np.ones((384, 1280), np.float32), (375, 1242)).shape == (375, 1242)
    with pytest.raises(ValueError, match="multiples of 32"):
        prepare_input(rgb, (375, 1242))
    with pytest.raises(ValueError, match="uint8"):
        prepare_input(rgb.astype(np.float32), (384, 1280))
