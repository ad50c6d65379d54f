"""Focal-normalized training targets and zoom augmentation that moves the focal length."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from depthnet_nano_ros.model.checkpoint import load_checkpoint
from depthnet_nano_ros.model.focal import KITTI_FX_PX, kitti_reference_focal
from depthnet_nano_ros.training.augment import AugmentConfig
from depthnet_nano_ros.training.config import TrainConfig
from depthnet_nano_ros.training.datasets import ArrayFrame, DepthDataset, build_frames
from depthnet_nano_ros.training.trainer import Trainer

SIZE = (32, 96)
H, W = 120, 360


def _ramp_frame(fx: float, depth_m: float = 20.0) -> ArrayFrame:
    """An image whose red channel is the column index (0..255) and a constant dense depth."""
    cols = np.linspace(0, 255, W, dtype=np.float32)
    rgb = np.repeat(np.repeat(cols[None, :, None], H, 0), 3, 2).round().astype(np.uint8)
    return ArrayFrame(rgb, np.full((H, W), depth_m, np.float32), dense=True, fx=fx)


def test_targets_are_normalized_to_the_reference_focal():
    ref = kitti_reference_focal(SIZE[1])
    fx = 2.0 * KITTI_FX_PX * W / 1242  # this camera has twice KITTI's focal at its width
    ds = DepthDataset([_ramp_frame(fx)], SIZE, None, ref_focal=ref)
    depth = ds[0]["depth"].numpy()
    np.testing.assert_allclose(depth, 20.0 * ref / (fx * SIZE[1] / W), rtol=1e-5)
    assert depth.mean() == pytest.approx(10.0, rel=1e-4)
    plain = DepthDataset([_ramp_frame(fx)], SIZE, None)  # no reference focal: metres as given
    np.testing.assert_allclose(plain[0]["depth"].numpy(), 20.0)


def test_zoom_crops_move_the_focal_with_the_crop():
    ref = kitti_reference_focal(SIZE[1])
    fx = KITTI_FX_PX * W / 1242
    aug = AugmentConfig(flip_prob=0.0, channel_swap_prob=0.0, jitter_prob=0.0, zoom_prob=1.0,
                        zoom_max=2.0)
    ds = DepthDataset([_ramp_frame(fx)], SIZE, aug, ref_focal=ref)
    seen = []
    for epoch in range(12):
        ds.set_epoch(epoch)
        s = ds[0]
        red = (s["image"][0].numpy() * 0.229 + 0.485) * 255.0  # undo the ImageNet normalization
        span = (red[:, -1].mean() - red[:, 0].mean()) / 255.0 * W  # columns the crop covered
        zoom = W / (span * SIZE[1] / (SIZE[1] - 1))  # end-to-end ramp of w-1 steps
        depth = float(s["depth"].mean())
        # the crop magnifies by `zoom`: the normalized depth shrinks by the same factor
        assert depth == pytest.approx(20.0 / zoom, rel=0.03), (epoch, zoom)
        seen.append(zoom)
    assert min(seen) >= 0.97 and max(seen) <= 2.03 and max(seen) - min(seen) > 0.3


def test_real_frames_report_their_calibrated_focal(kitti_date_dir):
    frames = build_frames({"kind": "kitti_raw", "root": str(kitti_date_dir.parent),
                           "drives": ["2011_09_26/2011_09_26_drive_0005_sync"], "frames": [0]})
    assert frames[0].focal_px() == pytest.approx(KITTI_FX_PX)
    ds = DepthDataset(frames, SIZE, None, ref_focal=kitti_reference_focal(SIZE[1]))
    raw = DepthDataset(frames, SIZE, None)
    np.testing.assert_allclose(ds[0]["depth"].numpy(), raw[0]["depth"].numpy(), rtol=1e-6)


def test_training_records_the_reference_focal(tmp_path):
    torch.set_num_threads(1)
    frames = [_ramp_frame(KITTI_FX_PX * W / 1242)] * 2
    cfg = TrainConfig(out_dir=str(tmp_path / "run"), input_size=SIZE, batch_size=2, epochs=1,
                      augment={"zoom_prob": 0.5}, progress=False, resume=False,
                      image_every_steps=0)
    Trainer(cfg, frames).fit()
    info = load_checkpoint(tmp_path / "run" / "last.pt")[1]
    assert info.focal_px == pytest.approx(kitti_reference_focal(SIZE[1]))
    off = TrainConfig(**{**cfg.to_dict(), "focal_normalize": False,
                         "out_dir": str(tmp_path / "off")})
    Trainer(off, frames).fit()
    assert load_checkpoint(tmp_path / "off" / "last.pt")[1].focal_px is None
