"""The temporal filter (steadier depth, no lag on motion) and the temporal-consistency metric,
on constructed sequences and on a real KITTI frame seen by a still camera with sensor noise."""

from __future__ import annotations

import numpy as np
import pytest

from depthnet_nano_ros.evaluation.metrics import EvalSettings, score_frame, summarize
from depthnet_nano_ros.evaluation.temporal import TemporalConsistency
from depthnet_nano_ros.geometry.temporal_filter import TemporalFilter, TemporalSettings

H, W = 64, 96


def _scene(shift: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Textured background at 20 m and a bright 16x16 box at 5 m, moved right by `shift`."""
    rng = np.random.default_rng(0)
    rgb = np.repeat(rng.integers(60, 100, (H // 8, W // 8, 1), dtype=np.uint8), 8, 0)
    rgb = np.repeat(np.repeat(rgb, 8, 1), 3, 2).copy()
    depth = np.full((H, W), 20.0, np.float32)
    rgb[24:40, 8 + shift:24 + shift] = 250
    depth[24:40, 8 + shift:24 + shift] = 5.0
    return rgb, depth


def test_unchanged_pixels_are_averaged_and_moving_ones_follow_at_once():
    filt = TemporalFilter(TemporalSettings(alpha=0.6))
    rgb, depth = _scene()
    rng = np.random.default_rng(1)
    outs = []
    for _ in range(8):  # a still scene whose predicted depth flickers by ~3 %
        noisy = depth * (1 + 0.03 * rng.standard_normal(depth.shape)).astype(np.float32)
        outs.append(filt(rgb, noisy))
    raw_flicker = 0.03 * np.sqrt(2)
    flicker = np.mean([np.abs(b - a).mean() / 20.0
                       for a, b in zip(outs[3:-1], outs[4:], strict=True)])
    assert flicker < 0.6 * raw_flicker, flicker
    moved_rgb, moved_depth = _scene(shift=40)  # the box jumps: no lag where the image changed
    out = filt(moved_rgb, moved_depth)
    np.testing.assert_array_equal(out[24:40, 48:64], 5.0)  # the box's new place
    np.testing.assert_array_equal(out[24:40, 8:24], 20.0)  # where it was
    jumped = depth.copy()
    jumped[:, 80:] = 40.0  # same image, depth doubled: a real change, taken as it is
    filt.reset()
    filt(rgb, depth)
    assert (filt(rgb, jumped)[:, 80:] == 40.0).all()


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="alpha"):
        TemporalSettings(alpha=1.0)
    with pytest.raises(ValueError, match="threshold"):
        TemporalSettings(image_threshold=0.0)


def test_consistency_counts_only_pixels_whose_truth_stayed():
    gt = np.full((H, W), 10.0, np.float32)
    gt_moved = gt.copy()
    gt_moved[:, : W // 2] = 5.0  # half the view changed: not scored
    tc = TemporalConsistency()
    tc.add(gt, gt.copy())
    pred = gt.copy()
    pred[:, W // 2:] = 10.5  # +5 % on the unchanged half
    pred[:, : W // 2] = 99.0  # whatever on the changed half
    tc.add(gt_moved, pred)
    s = tc.summary()
    assert s["pairs"] == 1 and s["pixels"] == H * (W - W // 2)
    assert s["temporal_change"] == pytest.approx(0.05, rel=1e-5)
    assert TemporalConsistency().summary()["temporal_change"] is None


def _raw_vs_filtered(frames: list[np.ndarray], gts: list[np.ndarray],
                     focal_px: float) -> dict[str, tuple[float, float]]:
    """(temporal change, mean a1) of the shipped model's depth, raw and temporally filtered."""
    from depthnet_nano_ros.inference import DepthEstimator

    est = DepthEstimator.create(backend="torch")
    raw = [est.estimate(f, focal_px=focal_px).depth for f in frames]
    filt = TemporalFilter()  # the node's defaults
    steady = [filt(f, d) for f, d in zip(frames, raw, strict=True)]
    result = {}
    for name, preds in (("raw", raw), ("filtered", steady)):
        tc = TemporalConsistency()
        for g, p in zip(gts, preds, strict=True):
            tc.add(g, p)
        settings = EvalSettings(crop="garg")
        a1 = summarize([score_frame(g, p, settings) for g, p in zip(gts, preds, strict=True)])
        result[name] = (tc.summary()["temporal_change"], a1["a1"])
    return result


def test_a_still_camera_with_noise_flickers_less_and_scores_the_same(kitti_drive_dir,
                                                                     kitti_date_dir,
                                                                     one_torch_thread):
    """KITTI frame 0 seen 12 times with sensor noise (sigma 4 grey levels) by the shipped model."""
    from depthnet_nano_ros.kitti import RawDrive, frame_sparse_depth

    drive = RawDrive(kitti_date_dir, "0005")
    rgb, gt = drive.load_image(0), frame_sparse_depth(drive, 0)
    rng = np.random.default_rng(0)
    frames = [np.clip(rgb + rng.normal(0, 4, rgb.shape), 0, 255).astype(np.uint8)
              for _ in range(12)]
    result = _raw_vs_filtered(frames, [gt] * 12, float(drive.calib.K(2)[0, 0]))
    (raw_change, raw_a1), (steady_change, steady_a1) = result["raw"], result["filtered"]
    assert raw_change > 0, result  # the network does flicker with sensor noise
    assert steady_change < 0.7 * raw_change, result
    # a1 within 5 of the ~10,000 lidar pixels a frame scores (docs/ros_node.md)
    assert steady_a1 >= raw_a1 - 5e-4, result
    print(f"still camera, sigma 4 noise: temporal change {raw_change:.4f} -> {steady_change:.4f}"
          f", a1 {raw_a1:.5f} -> {steady_a1:.5f}")


def test_a_moving_camera_gets_steadier_without_losing_a1(kitti_drive_dir, kitti_date_dir,
                                                        one_torch_thread):
    """KITTI drive 0005 frames 0-9 (driving, lidar truth): the filter must not lower a1."""
    from depthnet_nano_ros.kitti import RawDrive, frame_sparse_depth

    drive = RawDrive(kitti_date_dir, "0005")
    frames = [drive.load_image(i) for i in range(10)]
    gts = [frame_sparse_depth(drive, i) for i in range(10)]
    result = _raw_vs_filtered(frames, gts, float(drive.calib.K(2)[0, 0]))
    (raw_change, raw_a1), (steady_change, steady_a1) = result["raw"], result["filtered"]
    assert steady_change < 0.95 * raw_change, result
    assert steady_a1 >= raw_a1, result
    print(f"drive 0005 frames 0-9: temporal change {raw_change:.4f} -> {steady_change:.4f}, "
          f"a1 {raw_a1:.5f} -> {steady_a1:.5f}")
