"""Metrics, crops, median scaling and pairing against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from depthnet_nano_ros.evaluation.errors import EvaluationError
from depthnet_nano_ros.evaluation.metrics import (
    METRIC_NAMES,
    EvalSettings,
    compute_errors,
    crop_mask,
    score_frame,
    summarize,
)
from depthnet_nano_ros.evaluation.pairing import pair_nearest


def test_compute_errors_hand_values():
    e = compute_errors(np.array([1.0, 2.0, 4.0]), np.array([2.0, 2.0, 2.0]))
    assert e["abs_rel"] == pytest.approx((1 + 0 + 0.5) / 3)
    assert e["sq_rel"] == pytest.approx((1 + 0 + 1) / 3)
    assert e["rmse"] == pytest.approx(math.sqrt(5 / 3))
    assert e["rmse_log"] == pytest.approx(math.log(2) * math.sqrt(2 / 3))
    assert e["log10"] == pytest.approx(2 * math.log10(2) / 3)
    assert (e["a1"], e["a2"], e["a3"]) == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    assert set(e) == set(METRIC_NAMES)


def test_thresholds_separate_a1_a2_a3():
    e = compute_errors(np.ones(4), np.array([1.0, 1.5, 1.9, 3.0]))
    assert (e["a1"], e["a2"], e["a3"]) == pytest.approx((0.25, 0.5, 0.75))
    # symmetric: under-estimating by the same factor counts the same
    e2 = compute_errors(np.array([1.0, 1.5, 1.9, 3.0]), np.ones(4))
    assert (e2["a1"], e2["a2"], e2["a3"]) == pytest.approx((0.25, 0.5, 0.75))


def test_compute_errors_rejects_bad_shapes():
    with pytest.raises(EvaluationError, match="valid pixels"):
        compute_errors(np.ones(3), np.ones(4))
    with pytest.raises(EvaluationError):
        compute_errors(np.zeros(0), np.zeros(0))


@pytest.mark.parametrize("crop, rows, cols", [
    ("garg", (153, 371), (44, 1197)),   # int(0.40810811*375)=153, int(0.99189189*375)=371 ...
    ("eigen", (124, 342), (44, 1197)),  # int(0.3324324*375)=124, int(0.91351351*375)=342
    ("none", (0, 375), (0, 1242)),
])
def test_crops_on_kitti_size(crop, rows, cols):
    m = crop_mask((375, 1242), crop)
    ys, xs = np.nonzero(m)
    assert (ys.min(), ys.max() + 1) == rows
    assert (xs.min(), xs.max() + 1) == cols
    assert m.sum() == (rows[1] - rows[0]) * (cols[1] - cols[0])
    with pytest.raises(EvaluationError, match="unknown crop"):
        crop_mask((10, 10), "kitti")


def test_score_frame_mask_cap_and_clip():
    gt = np.array([[0.0, 5.0, 90.0, 10.0]], dtype=np.float32)  # 0 invalid, 90 above cap
    pred = np.array([[3.0, 5.0, 7.0, 200.0]], dtype=np.float32)  # 200 clipped to 80
    s = score_frame(gt, pred, EvalSettings(crop="none", max_depth=80.0))
    assert s.valid_points == 2 and s.scale == 1.0
    assert s.metrics["abs_rel"] == pytest.approx((0 + 70 / 10) / 2)
    assert s.metrics["a1"] == pytest.approx(0.5)


def test_score_frame_ignores_nonfinite_prediction_and_empty_frames():
    gt = np.array([[2.0, 4.0]], dtype=np.float32)
    pred = np.array([[np.nan, 4.0]], dtype=np.float32)
    s = score_frame(gt, pred, EvalSettings(crop="none"))
    assert s.valid_points == 1 and s.metrics["abs_rel"] == 0.0
    empty = score_frame(np.zeros((2, 2), np.float32), np.ones((2, 2), np.float32),
                        EvalSettings(crop="none"), stamp_ns=7)
    assert empty.metrics is None and empty.valid_points == 0
    assert empty.to_json()["abs_rel"] is None and empty.to_json()["stamp_ns"] == 7


@pytest.mark.parametrize("factor", [0.25, 3.0])
def test_median_scaling_recovers_known_factor(factor):
    rng = np.random.default_rng(0)
    gt = rng.uniform(2, 60, size=(40, 50)).astype(np.float32)
    gt[rng.random(gt.shape) < 0.5] = 0
    pred = gt / factor + (gt == 0) * 5.0
    s = score_frame(gt, pred, EvalSettings(crop="none", median_scaling=True))
    assert s.scale == pytest.approx(factor, rel=1e-5)
    assert s.metrics["abs_rel"] < 1e-5 and s.metrics["a1"] == 1.0
    unscaled = score_frame(gt, pred, EvalSettings(crop="none"))
    assert unscaled.scale == 1.0 and unscaled.metrics["abs_rel"] > 0.1


def test_summarize_means_and_ratio_stats():
    settings = EvalSettings(crop="none", median_scaling=True)
    gt = np.full((4, 4), 10.0, np.float32)
    scores = [score_frame(gt, gt / f, settings, stamp_ns=i) for i, f in enumerate([1.0, 2.0, 4.0])]
    scores.append(score_frame(np.zeros((4, 4), np.float32), gt, settings, stamp_ns=9))
    out = summarize(scores)
    assert out["median_scale"] == pytest.approx(2.0)
    assert out["median_scale_std"] == pytest.approx(np.std([0.5, 1.0, 2.0]))
    assert out["abs_rel"] == pytest.approx(0.0, abs=1e-6)
    plain = [score_frame(gt, p, EvalSettings(crop="none"))
             for p in (gt, np.full_like(gt, 20.0))]
    assert summarize(plain)["abs_rel"] == pytest.approx((0.0 + 1.0) / 2)


def test_settings_validation():
    with pytest.raises(EvaluationError, match="--crop"):
        EvalSettings(crop="wide")
    with pytest.raises(EvaluationError, match="min-depth"):
        EvalSettings(min_depth=90, max_depth=80)


def test_pair_nearest_hand_values():
    images = np.array([330, 0, 100, 200])  # unsorted on purpose
    lidar = np.array([190, 10, 260])
    p = pair_nearest(images, lidar, max_offset_ns=50)
    assert p.image_index.tolist() == [1, 3]  # stamps 0 and 200
    assert p.lidar_index.tolist() == [1, 0]  # stamps 10 and 190
    assert p.offset_ns.tolist() == [10, -10]
    assert p.rejected == 2  # 100 (90 from either) and 330 (70 from 260)
    assert pair_nearest(images, np.array([], dtype=np.int64), 50).rejected == 4
    wide = pair_nearest(images, lidar, max_offset_ns=100)
    assert len(wide) == 4 and wide.lidar_index.tolist() == [1, 1, 0, 2]  # tie 100 -> earlier
