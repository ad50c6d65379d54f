"""The evaluation summary: JSON document, stdout table and atomic writers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from depthnet_nano_ros.evaluation.metrics import METRIC_NAMES, summarize
from depthnet_nano_ros.fileio import atomic_write_bytes

if TYPE_CHECKING:
    from depthnet_nano_ros.evaluation.offline import EvaluationResult


def build_summary(result: EvaluationResult) -> dict[str, Any]:
    """The JSON document (keys documented in docs/evaluation.md)."""
    s = result.settings
    means = summarize(result.scores)
    scored = [x for x in result.scores if x.metrics is not None]
    doc: dict[str, Any] = {
        "frames": len(scored),
        "pairs_rejected": int(result.pairs_rejected),
        **{name: means[name] for name in METRIC_NAMES},
        "median_scale": means["median_scale"] if s.median_scaling else None,
        "median_scale_std": means["median_scale_std"] if s.median_scaling else None,
        "crop": s.crop,
        "min_depth": s.min_depth,
        "max_depth": s.max_depth,
        "mode": result.mode,
        "images": int(result.images),
        "frames_without_gt": len(result.scores) - len(scored),
        "dropped": result.dropped,
        "geometry": result.geometry_source,
        "timings_s": {k: round(v, 6) for k, v in result.timings_s.items()},
        "timings_cpu_s": {k: round(v, 6) for k, v in result.timings_cpu_s.items()},
        "per_frame": [x.to_json() for x in result.scores],
    }
    if result.live is not None:
        doc["live"] = result.live
    if result.temporal is not None:
        doc["temporal"] = result.temporal
    return doc


def write_json(path: str | Path, doc: dict[str, Any]) -> Path:
    """Write the summary JSON atomically (NaN-free: missing values are null)."""
    return atomic_write_bytes(path, (json.dumps(doc, indent=2) + "\n").encode())


NON_INFERENCE = ("pairing", "read", "ground_truth", "metrics")


def non_inference_fps(result: EvaluationResult) -> tuple[float, float] | None:
    """Frames per second (wall, CPU time) of pairing + reading + projection + metrics."""
    wall = sum(result.timings_s.get(k, 0.0) for k in NON_INFERENCE)
    cpu = sum(result.timings_cpu_s.get(k, 0.0) for k in NON_INFERENCE)
    if wall <= 0 or cpu <= 0 or not result.scores:
        return None
    return len(result.scores) / wall, len(result.scores) / cpu


def format_table(doc: dict[str, Any], fps: tuple[float, float] | None = None) -> str:
    """Human summary for stdout: counts, the metric table and throughput."""
    lines = [
        f"frames scored: {doc['frames']} of {doc['images']} images "
        f"(pairs rejected: {doc['pairs_rejected']}, without ground truth: "
        f"{doc['frames_without_gt']}"
        + (f", dropped by the node: {doc['dropped']}" if doc["dropped"] is not None else "")
        + ")",
        f"crop {doc['crop']}, depth {doc['min_depth']:g}..{doc['max_depth']:g} m, "
        f"geometry from {doc['geometry']}",
    ]
    if doc["median_scale"] is not None:
        lines.append(f"median scaling: ratio median {doc['median_scale']:.3f}, "
                     f"std {doc['median_scale_std']:.3f} (of ratio / median)")
    lines.append(" ".join(f"{n:>9}" for n in METRIC_NAMES))
    lines.append(" ".join("      n/a" if doc[n] is None else f"{doc[n]:9.4f}"
                          for n in METRIC_NAMES))
    steady = doc.get("temporal") or {}
    if steady.get("temporal_change") is not None:
        lines.append(f"temporal change: {steady['temporal_change']:.4f} (mean |d_t - d_t-1| / "
                     f"gt on {steady['pixels']} pixels of {steady['pairs']} frame pairs whose "
                     "ground truth changed < 2 %)")
    if fps is not None:
        lines.append(f"pairing + reading + projection + metrics: {fps[0]:.1f} frames/s "
                     f"(inference excluded; {fps[1]:.1f} frames per CPU-second)")
    return "\n".join(lines)
