"""Print MODEL_CARD.md's accuracy tables for a checkpoint (KITTI frames beside the repository).

    .venv/bin/python scripts/model_card_numbers.py [--checkpoint PT] [--json OUT]

Scores (Garg crop, 1e-3..80 m, metric and per-frame median-scaled, focal from each frame's
calibration) on: drive 0005 frames 0-9 (held out), the object frames of the held-out drives
2011_09_26_0022 / _0087 (leave-drives-out), and the object frames of the training drives (seen,
for contrast); then abs_rel and delta1 by lidar distance bin on the held-out frames.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from depthnet_nano_ros.evaluation.metrics import (
    EvalSettings,
    compute_errors,
    score_frame,
    summarize,
    valid_mask,
)
from depthnet_nano_ros.inference import DepthEstimator
from depthnet_nano_ros.kitti import RawDrive, frame_sparse_depth
from depthnet_nano_ros.kitti.calib import load_object_calibration
from depthnet_nano_ros.kitti.files import read_rgb, read_velodyne
from depthnet_nano_ros.kitti.lidar_gt import sparse_depth
from depthnet_nano_ros.kitti.object_dataset import ObjectDataset

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
HELD_OUT_OBJECT = (19, 20, 29, 30, 31)  # drives 0022 (19, 20, 31) and 0087 (29, 30)
SEEN_OBJECT = (5, 6, 12, 14, 16, 17, 18, 21, 22, 26, 27, 114)
BINS = ((0.0, 10.0), (10.0, 20.0), (20.0, 40.0), (40.0, 80.0))


def _extra_frame() -> tuple[np.ndarray, np.ndarray, float]:
    """kitti_raw_extra's one frame (unknown 2011_09_26 drive, object-format calibration)."""
    drive = DATA / "kitti_raw_extra" / "2011_09_26" / "2011_09_26_drive_unknown3_sync"
    calib = load_object_calibration(drive / "calib_object_format.txt")
    rgb = read_rgb(drive / "image_02" / "data" / "0000000001.png")
    points = read_velodyne(drive / "velodyne_points" / "data" / "0000000001.bin")
    return rgb, sparse_depth(calib, points, rgb.shape[:2]), float(calib.K(2)[0, 0])


def _frames(name: str) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """(rgb, lidar depth, fx) of one evaluation set."""
    if name.startswith("kitti_raw_extra"):
        return [_extra_frame()]
    if name == "drive 0005 frames 0-9":
        drive = RawDrive(DATA / "kitti_sample" / "2011_09_26", "0005")
        return [(drive.load_image(i), frame_sparse_depth(drive, i),
                 float(drive.calibration(i).K(2)[0, 0])) for i in range(10)]
    ds = ObjectDataset(DATA / "kitti_object_sample")
    ids = HELD_OUT_OBJECT if name.startswith("held-out") else SEEN_OBJECT
    return [(ds.load_image(i), frame_sparse_depth(ds, i), float(ds.calibration(i).K(2)[0, 0]))
            for i in ids]


def main() -> int:
    """Score and print markdown tables (and a JSON when asked)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=None, help="default: the shipped reference")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if not DATA.is_dir():
        sys.exit(f"{DATA} is missing: these numbers need ../shared/data beside the repository")
    est = DepthEstimator.create(checkpoint=args.checkpoint, backend="torch")
    out: dict[str, dict] = {}
    binned: dict[str, list[np.ndarray]] = {"gt": [], "pred": []}
    print("| frames | n | a1 metric | abs_rel metric | rmse metric | a1 median-scaled | "
          "abs_rel median-scaled |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in ("drive 0005 frames 0-9", "held-out drives 0022, 0087 (object frames)",
                 "kitti_raw_extra (unknown drive, not trained on)",
                 "training drives (object frames, seen)"):
        frames = _frames(name)
        preds = [est.estimate(rgb, focal_px=fx).depth for rgb, _, fx in frames]
        row = {}
        for ms in (False, True):
            settings = EvalSettings(crop="garg", median_scaling=ms)
            s = summarize([score_frame(gt, p, settings) for (_, gt, _), p in zip(frames, preds,
                                                                                  strict=True)])
            row["ms" if ms else "metric"] = {k: s[k] for k in ("a1", "abs_rel", "rmse")}
        out[name] = row
        m, ms = row["metric"], row["ms"]
        print(f"| {name} | {len(frames)} | {m['a1']:.3f} | {m['abs_rel']:.3f} | "
              f"{m['rmse']:.2f} m | {ms['a1']:.3f} | {ms['abs_rel']:.3f} |")
        if not name.startswith("training"):
            for (_, gt, _), p in zip(frames, preds, strict=True):
                mask = valid_mask(gt, "garg", 1e-3, 80.0)
                binned["gt"].append(gt[mask])
                binned["pred"].append(np.clip(p[mask], 1e-3, 80.0))
    gt, pred = np.concatenate(binned["gt"]), np.concatenate(binned["pred"])
    print("\n| lidar distance | points | abs_rel metric | a1 metric | median pred / gt |")
    print("| --- | --- | --- | --- | --- |")
    out["bins"] = {}
    for lo, hi in BINS:
        sel = (gt >= lo) & (gt < hi)
        e = compute_errors(gt[sel], pred[sel])
        ratio = float(np.median(pred[sel] / gt[sel]))
        out["bins"][f"{lo:g}-{hi:g}"] = {**e, "points": int(sel.sum()), "ratio": ratio}
        print(f"| {lo:g}–{hi:g} m | {int(sel.sum())} | {e['abs_rel']:.3f} | {e['a1']:.3f} | "
              f"{ratio:.3f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
