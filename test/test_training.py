"""Training building blocks: the recipe's loss, targets, augmentation, densification, config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from depthnet_nano_ros.kitti import KittiError, RawDrive, frame_sparse_depth
from depthnet_nano_ros.model.depth_param import depth_to_output
from depthnet_nano_ros.model.transforms import normalize_rgb, resize_rgb
from depthnet_nano_ros.training.augment import AugmentConfig, augment
from depthnet_nano_ros.training.config import load_config
from depthnet_nano_ros.training.datasets import build_frames, parse_split, to_sample
from depthnet_nano_ros.training.densify import cached_densify, densify, lidar_footprint
from depthnet_nano_ros.training.errors import TrainingError
from depthnet_nano_ros.training.losses import (
    DepthLoss,
    masked_gradient_loss,
    masked_l1,
    masked_ssim,
)
from depthnet_nano_ros.training.targets import resize_dense_depth, resize_sparse_depth

REPO = Path(__file__).resolve().parent.parent


def _depth_maps(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    target = depth_to_output(torch.rand(2, 1, 32, 48, generator=g) * 60 + 2)
    pred = depth_to_output(torch.rand(2, 1, 32, 48, generator=g) * 60 + 2)
    return pred, target


def test_loss_is_zero_for_a_perfect_prediction_and_weights_terms_as_the_paper():
    pred, target = _depth_maps()
    loss_fn = DepthLoss()
    zero, terms0 = loss_fn(target.clone(), target)
    assert float(zero) == pytest.approx(0.0, abs=1e-5)
    total, terms = loss_fn(pred, target)
    assert terms["ssim"] <= 1.0 and terms["grad"] > 0 and terms["l1"] > 0
    assert float(total) == pytest.approx(terms["ssim"] + terms["grad"] + 0.1 * terms["l1"],
                                         rel=1e-5)


def test_masked_terms_ignore_invalid_pixels():
    pred, target = _depth_maps(1)
    mask = (torch.rand(target.shape, generator=torch.Generator().manual_seed(2)) > 0.5).float()
    # Whatever the prediction does where the target is invalid must not change the loss.
    wild = torch.where(mask > 0, pred, torch.full_like(pred, 1e4))
    assert float(masked_l1(wild, target, mask)) == pytest.approx(float(masked_l1(pred, target,
                                                                                 mask)))
    assert float(masked_gradient_loss(wild, target, mask)) == pytest.approx(
        float(masked_gradient_loss(pred, target, mask)), rel=1e-5)
    assert float(masked_ssim(wild, target, mask, 80.0)) == pytest.approx(
        float(masked_ssim(pred, target, mask, 80.0)), rel=1e-4)
    # A perfect prediction on the valid pixels gives SSIM 1 even with holes.
    assert float(masked_ssim(target, target, mask, 80.0)) == pytest.approx(1.0, abs=1e-4)


def test_sparse_resize_keeps_the_nearest_point_and_dense_resize_keeps_holes():
    depth = np.zeros((8, 8), np.float32)
    depth[0, 0], depth[1, 1], depth[5, 6] = 10.0, 4.0, 7.0
    small = resize_sparse_depth(depth, (4, 4))
    assert small[0, 0] == 4.0 and small[2, 3] == 7.0 and (small > 0).sum() == 2
    dense = np.full((8, 8), 5.0, np.float32)
    dense[:, 6:] = 0.0  # e.g. sky
    out = resize_dense_depth(dense, (4, 4))
    # No blending with the holes: every pixel is either the true depth or invalid.
    assert set(np.unique(out)) == {0.0, 5.0}
    assert np.all(out[:, :2] == 5.0) and np.all(out[:, 3] == 0.0)


def test_augment_flips_image_and_depth_together_and_jitters_only_colour():
    rgb = np.random.default_rng(0).integers(0, 255, (16, 24, 3), dtype=np.uint8)
    depth = np.tile(np.arange(24, dtype=np.float32), (16, 1))
    cfg = AugmentConfig(flip_prob=1.0, channel_swap_prob=0.0, jitter_prob=0.0)
    a_rgb, a_depth = augment(rgb, depth, cfg, np.random.default_rng(0))
    assert np.array_equal(a_rgb, rgb[:, ::-1]) and np.array_equal(a_depth, depth[:, ::-1])
    cfg = AugmentConfig(flip_prob=0.0, channel_swap_prob=1.0, jitter_prob=1.0)
    b_rgb, b_depth = augment(rgb, depth, cfg, np.random.default_rng(3))
    assert np.array_equal(b_depth, depth) and b_rgb.dtype == np.uint8
    assert not np.array_equal(b_rgb, rgb)
    none_rgb, _ = augment(rgb, depth, AugmentConfig.disabled(), np.random.default_rng(0))
    assert np.array_equal(none_rgb, rgb)


def test_samples_use_the_inference_transforms(kitti_date_dir):
    drive = RawDrive(kitti_date_dir, "0005")
    rgb, sparse = drive.load_image(10), frame_sparse_depth(drive, 10)
    sample = to_sample(rgb, sparse, False, (64, 224))
    expected = normalize_rgb(resize_rgb(rgb, (64, 224)))[0]
    assert torch.equal(sample["image"], torch.from_numpy(expected))
    valid = sample["mask"] > 0
    assert valid.float().mean() > 0.3
    assert torch.allclose(sample["target"][valid], 80.0 / sample["depth"][valid].clamp(1, 80))


def test_densify_fills_the_lidar_footprint_and_keeps_measurements(kitti_date_dir, tmp_path):
    drive = RawDrive(kitti_date_dir, "0005")
    rgb, sparse = drive.load_image(10), frame_sparse_depth(drive, 10)
    size = (188, 621)  # half resolution keeps the sparse solve fast
    dense = cached_densify(rgb, sparse, tmp_path, size)
    assert len(list(tmp_path.glob("*.png"))) == 1
    small_sparse = resize_sparse_depth(sparse, size)
    known = small_sparse > 0
    footprint = lidar_footprint(known)
    assert footprint.mean() > 0.4  # the lidar covers the lower part of the image
    assert np.all(dense[footprint] > 0), "a pixel inside the lidar footprint was left empty"
    assert np.all(dense[~footprint] == 0)
    # Known pixels survive the solve and the 1/256 m PNG cache round trip within 1 cm.
    assert np.max(np.abs(dense[known] - small_sparse[known])) < 0.01
    # Filled values are affinity-weighted means: inside the measured range, and not constant.
    filled = dense[footprint & ~known]
    assert filled.min() >= small_sparse[known].min() - 0.01
    assert filled.max() <= small_sparse[known].max() + 0.01
    assert filled.std() > 1.0
    # The cache returns the same map without solving again.
    again = cached_densify(rgb, sparse, tmp_path, size)
    assert np.array_equal(again, dense)


def test_densify_rejects_mismatched_or_empty_input():
    rgb = np.zeros((10, 12, 3), np.uint8)
    with pytest.raises(TrainingError, match="same size"):
        densify(rgb, np.zeros((10, 11), np.float32))
    with pytest.raises(TrainingError, match="without any valid pixel"):
        densify(rgb, np.zeros((10, 12), np.float32))


def test_config_overrides_and_errors(tmp_path):
    cfg = load_config(REPO / "config" / "train_tiny.yaml",
                      ["lr=1e-3", "input_size=[32, 96]", "train.0.root=/data/x"])
    assert cfg.lr == pytest.approx(1e-3) and cfg.input_size == (32, 96)
    assert cfg.train[0]["root"] == "/data/x"
    with pytest.raises(TrainingError, match="unknown setting 'lrr'"):
        load_config(REPO / "config" / "train_tiny.yaml", ["lrr=1"])
    with pytest.raises(TrainingError, match="multiples of 32"):
        load_config(REPO / "config" / "train_tiny.yaml", ["input_size=[30, 96]"])
    with pytest.raises(TrainingError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_split_files_select_frames(kitti_date_dir, tmp_path):
    split = tmp_path / "split.txt"
    split.write_text("2011_09_26/2011_09_26_drive_0005_sync 10 l\n"
                     "2011_09_26/2011_09_26_drive_0005_sync 0000000013 l\n")
    assert parse_split(split)[1] == ("2011_09_26/2011_09_26_drive_0005_sync", 13, "l")
    frames = build_frames({"kind": "kitti_raw", "root": str(kitti_date_dir.parent),
                           "split": str(split), "target": "lidar"})
    assert [f.index for f in frames] == [10, 13]
    rgb, depth, dense = frames[1].load()
    assert rgb.shape[:2] == depth.shape and not dense and (depth > 0).sum() > 10000
    ranged = build_frames({"kind": "kitti_raw", "root": str(kitti_date_dir.parent),
                           "drives": ["2011_09_26/2011_09_26_drive_0005_sync"],
                           "frames": [10, 97, 3]})
    assert [f.index for f in ranged] == list(range(10, 98, 3))
    split.write_text("garbage\n")
    with pytest.raises(TrainingError, match="split.txt:1"):
        parse_split(split)
    with pytest.raises(TrainingError, match="target 'depth'"):
        build_frames({"kind": "kitti_raw", "root": str(tmp_path), "target": "depth"})


def test_annotated_and_exact_targets_from_the_synthetic_drive(tmp_path):
    import shutil
    import subprocess
    import sys

    synth = tmp_path / "synth"
    subprocess.run([sys.executable, "-m", "depthnet_nano_ros.cli", "synth-drive", str(synth),
                    "--frames", "2", "--quiet"], check=True, timeout=120)
    drive = "2011_09_26_drive_9000_sync"
    exact = build_frames({"kind": "kitti_raw", "root": str(synth), "target": "exact"})
    rgb, depth, dense = exact[1].load()
    assert dense and depth.shape == rgb.shape[:2] and (depth > 0).mean() > 0.3
    # The depth-benchmark layout: <gt_root>/<drive>/proj_depth/groundtruth/image_02/*.png.
    gt_dir = tmp_path / "annotated" / drive / "proj_depth" / "groundtruth"
    shutil.copytree(synth / "2011_09_26" / drive / "proj_depth" / "exact", gt_dir)
    annotated = build_frames({"kind": "kitti_raw", "root": str(synth), "target": "groundtruth",
                              "gt_root": str(tmp_path / "annotated")})
    _, gt, gt_dense = annotated[1].load()
    assert not gt_dense and np.array_equal(gt, depth)  # annotations are masked like lidar
    shutil.rmtree(gt_dir)
    with pytest.raises(KittiError, match="0000000000.png"):
        annotated[0].load()
