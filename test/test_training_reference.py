"""The shipped reference checkpoint: default everywhere, honest about its data, good enough."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from depthnet_nano_ros.evaluation.metrics import EvalSettings, score_frame, summarize
from depthnet_nano_ros.inference import DepthEstimator
from depthnet_nano_ros.kitti import RawDrive, frame_sparse_depth
from depthnet_nano_ros.model.checkpoint import REFERENCE_CHECKPOINT, load_checkpoint
from depthnet_nano_ros.training.datasets import expand_frames

HELD_OUT = set(range(10))  # kitti_sample drive 0005 frames 0-9: validation / tests only


def test_reference_checkpoint_is_small_fp16_and_the_default():
    assert REFERENCE_CHECKPOINT.stat().st_size < 8 * 2**20
    payload = torch.load(REFERENCE_CHECKPOINT, weights_only=True)
    assert all(v.dtype == torch.float16 for v in payload["state_dict"].values()
               if v.is_floating_point())
    model, info = load_checkpoint(None)
    assert info.path == REFERENCE_CHECKPOINT and info.input_size == (192, 640)
    assert info.focal_px is not None  # focal-normalized training
    assert info.train_config and info.metrics and info.git_rev
    assert "train_state" not in info.extra  # a release, not a resumable training state


def test_reference_checkpoint_never_trained_on_the_held_out_frames():
    _, info = load_checkpoint(None)
    for source in info.train_config["train"]:
        drives = " ".join(source.get("drives") or []) + str(source.get("split", ""))
        if "kitti_sample" in str(source["root"]) or "0005" in drives:
            assert source.get("frames") is not None and not source.get("split")
            assert not HELD_OUT & set(expand_frames(source["frames"], [])), source


@pytest.fixture(scope="module")
def frames_0_9(kitti_date_dir):
    drive = RawDrive(kitti_date_dir, "0005")
    return [(drive.load_image(i), frame_sparse_depth(drive, i)) for i in range(10)]


@pytest.mark.parametrize("median_scaling", [False, True])
def test_reference_checkpoint_meets_the_quality_bar_on_frames_0_9(frames_0_9, median_scaling):
    torch.set_num_threads(1)
    est = DepthEstimator.create(backend="torch")
    settings = EvalSettings(crop="garg", median_scaling=median_scaling)
    scores = [score_frame(gt, est.estimate(rgb).depth, settings) for rgb, gt in frames_0_9]
    summary = summarize(scores)
    assert all(s.valid_points > 5000 for s in scores)
    assert summary["a1"] >= 0.70, summary  # the bar (median-scaled delta1)
    assert summary["abs_rel"] < 0.30, summary
    assert np.isfinite(summary["rmse"])
