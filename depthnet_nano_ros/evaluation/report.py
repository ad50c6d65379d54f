"""HTML report: summary table, per-frame metric plots, and image strips of the best, median and
worst frames (RGB | lidar GT over RGB | predicted depth | abs-rel error map).

PNGs are written beside ``index.html``; every file is written atomically and the HTML last, so
a report folder with an ``index.html`` is complete.
"""

from __future__ import annotations

import html
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (backend must be chosen first)
import numpy as np  # noqa: E402
from matplotlib.cm import ScalarMappable  # noqa: E402
from matplotlib.colors import Normalize  # noqa: E402
from scipy.ndimage import grey_dilation  # noqa: E402

from depthnet_nano_ros.evaluation.metrics import (  # noqa: E402
    METRIC_NAMES,
    EvalSettings,
    FrameScore,
    valid_mask,
)
from depthnet_nano_ros.evaluation.offline import ReportLoader  # noqa: E402
from depthnet_nano_ros.fileio import atomic_write_bytes as write_atomic  # noqa: E402
from depthnet_nano_ros.geometry.colormap import colorize  # noqa: E402

DEPTH_CMAP = "turbo"
ERROR_CMAP = "turbo"
ERROR_VMAX = 0.5  # abs-rel shown saturates at 50 %


def select_frames(scores: Sequence[FrameScore]) -> list[tuple[str, FrameScore]]:
    """The best, median and worst scored frames by abs_rel (fewer if there are fewer frames)."""
    scored = sorted((s for s in scores if s.metrics is not None),
                    key=lambda s: (s.metrics["abs_rel"], s.stamp_ns))
    if not scored:
        return []
    picks = [("best", scored[0]), ("median", scored[len(scored) // 2]), ("worst", scored[-1])]
    seen: set[int] = set()
    out = []
    for label, s in picks:
        if s.stamp_ns not in seen:
            seen.add(s.stamp_ns)
            out.append((label, s))
    return out


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def metrics_plot(scores: Sequence[FrameScore]) -> bytes:
    """PNG of every metric per frame against time since the first frame."""
    scored = [s for s in scores if s.metrics is not None]
    t0 = scored[0].stamp_ns if scored else 0
    t = np.array([(s.stamp_ns - t0) * 1e-9 for s in scored])
    groups = [("abs_rel", "sq_rel", "log10"), ("rmse", "rmse_log"), ("a1", "a2", "a3")]
    fig, axes = plt.subplots(len(groups) + 1, 1, figsize=(10, 9), sharex=True)
    for ax, names in zip(axes, groups, strict=False):
        for name in names:
            ax.plot(t, [s.metrics[name] for s in scored], ".-", label=name)
        ax.legend(loc="upper right", fontsize=8)
        ax.grid(alpha=0.3)
    axes[-1].plot(t, [s.valid_points for s in scored], ".-", color="gray", label="valid points")
    axes[-1].legend(loc="upper right", fontsize=8)
    axes[-1].set_xlabel("time since first frame [s]")
    fig.tight_layout()
    return _png(fig)


def strip_images(rgb: np.ndarray, gt: np.ndarray, pred: np.ndarray, score: FrameScore,
                 settings: EvalSettings) -> dict[str, np.ndarray]:
    """The four panels as HxWx3 uint8: rgb, gt over rgb, prediction, abs-rel error map."""
    vmax = settings.max_depth
    dim = (rgb.astype(np.float32) * 0.4).astype(np.uint8)
    big_gt = grey_dilation(gt, size=(3, 3))  # sparse points are invisible at report size
    gt_panel = np.where((big_gt > 0)[..., None], colorize(big_gt, 0.0, vmax, cmap=DEPTH_CMAP),
                        dim)
    mask = valid_mask(gt, settings.crop, settings.min_depth, settings.max_depth)
    mask &= np.isfinite(pred)
    scaled = np.clip(pred * score.scale, settings.min_depth, settings.max_depth)
    err = np.full(gt.shape, np.nan, dtype=np.float32)
    err[mask] = np.abs(gt[mask] - scaled[mask]) / gt[mask]
    big_err = grey_dilation(np.nan_to_num(err, nan=-1.0), size=(3, 3))
    err_panel = np.where((big_err >= 0)[..., None],
                         colorize(np.clip(big_err, 0, ERROR_VMAX), 0.0, ERROR_VMAX,
                                  cmap=ERROR_CMAP), dim)
    return {"rgb": rgb, "gt": gt_panel,
            "pred": colorize(pred * score.scale, 0.0, vmax, cmap=DEPTH_CMAP), "error": err_panel}


def strip_png(panels: dict[str, np.ndarray], title: str, settings: EvalSettings) -> bytes:
    """PNG of the four panels stacked, with titles and colour bars."""
    h, w = panels["rgb"].shape[:2]
    fig_w = 10.0
    fig, axes = plt.subplots(4, 2, figsize=(fig_w, 4 * fig_w * h / w + 1.2),
                             gridspec_kw={"width_ratios": [50, 1]})
    titles = {"rgb": "RGB", "gt": "lidar ground truth over RGB",
              "pred": "predicted depth" + (" (median-scaled)" if settings.median_scaling else ""),
              "error": "abs-rel error |gt - pred| / gt"}
    for (ax, cax), key in zip(axes, ("rgb", "gt", "pred", "error"), strict=True):
        ax.imshow(panels[key])
        ax.set_title(titles[key], fontsize=9)
        ax.axis("off")
        if key == "rgb":
            cax.axis("off")
        else:
            norm = Normalize(0.0, ERROR_VMAX if key == "error" else settings.max_depth)
            cmap = ERROR_CMAP if key == "error" else DEPTH_CMAP
            fig.colorbar(ScalarMappable(norm, cmap), cax=cax,
                         label="abs-rel" if key == "error" else "m")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _png(fig)


def _metric_cells(values: dict[str, Any]) -> str:
    return "".join("<td>n/a</td>" if values.get(n) is None else f"<td>{values[n]:.4f}</td>"
                   for n in METRIC_NAMES)


def render_html(doc: dict[str, Any], strips: Sequence[tuple[str, FrameScore, str]],
                plot_name: str | None, table: str) -> str:
    """The report page; `strips` are (label, score, png file name)."""
    head = "".join(f"<th>{n}</th>" for n in METRIC_NAMES)
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>depthnet_nano evaluation"
        "</title><style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 8px;"
        "text-align:right}table{border-collapse:collapse}tr:nth-child(even){background:#f3f3f3}"
        "img{max-width:100%}</style></head><body>",
        "<h1>Depth evaluation</h1>",
        f"<pre>{html.escape(table)}</pre>",
        f"<h2>Mean over {doc['frames']} frames</h2><table><tr>{head}</tr>"
        f"<tr>{_metric_cells(doc)}</tr></table>",
    ]
    if plot_name:
        parts.append(f"<h2>Per frame</h2><img src='{plot_name}' alt='per-frame metrics'>")
    for label, score, name in strips:
        parts.append(f"<h2>{label.capitalize()} frame (stamp {score.stamp_ns}, abs_rel "
                     f"{score.metrics['abs_rel']:.4f}, {score.valid_points} points)</h2>"
                     f"<img src='{name}' alt='{label} frame'>")
    rows = "".join(f"<tr><td>{f['stamp_ns']}</td>{_metric_cells(f)}<td>{f['valid_points']}"
                   f"</td><td>{f['scale']:.4f}</td></tr>" for f in doc["per_frame"])
    parts.append(f"<h2>All frames</h2><table><tr><th>stamp_ns</th>{head}<th>points</th>"
                 f"<th>scale</th></tr>{rows}</table></body></html>")
    return "\n".join(parts)


def write_report(out_dir: str | Path, doc: dict[str, Any], scores: Sequence[FrameScore],
                 settings: EvalSettings, table: str, load: ReportLoader) -> Path:
    """Write the report; `load(stamps)` returns {stamp: (rgb, gt, raw prediction)}."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plot_name = None
    if any(s.metrics is not None for s in scores):
        plot_name = "per_frame_metrics.png"
        write_atomic(out / plot_name, metrics_plot(scores))
    picks = select_frames(scores)
    data = load([s.stamp_ns for _l, s in picks])
    strips = []
    for label, score in picks:
        if score.stamp_ns not in data:
            continue
        rgb, gt, pred = data[score.stamp_ns]
        name = f"{label}_frame.png"
        panels = strip_images(rgb, gt, pred, score, settings)
        write_atomic(out / name, strip_png(panels, f"{label} frame {score.stamp_ns}",
                                                 settings))
        strips.append((label, score, name))
    page = render_html(doc, strips, plot_name, table)
    return write_atomic(out / "index.html", page.encode())
