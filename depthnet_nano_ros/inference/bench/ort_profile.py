"""Per-operator profile of the onnxruntime CPU session: where DepthNet Nano's time goes.

`depthnet_nano bench --profile DIR` runs the same tuned CPU session as the estimator with
onnxruntime's profiler on, keeps the JSON trace in DIR (open it in chrome://tracing or
Perfetto) and reduces it to milliseconds per frame by operator type and by feature-map size.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from depthnet_nano_ros.inference.errors import InferenceError


def summarize_trace(events: list[dict[str, Any]], frames: int) -> dict[str, Any]:
    """Kernel time per frame (ms) of the last `frames` runs: by op type, output width, node.

    Widths rather than HxW: row-strip tiling splits the large maps into strips of one width.
    """
    runs = sorted(e["ts"] for e in events
                  if e.get("cat") == "Session" and e.get("name") == "model_run")
    if len(runs) < frames:
        raise InferenceError(f"the onnxruntime profile holds {len(runs)} runs, not {frames}")
    first = runs[-frames]
    by_op: Counter[str] = Counter()
    by_size: dict[str, Counter[str]] = defaultdict(Counter)
    by_node: Counter[str] = Counter()
    for e in events:
        if (e.get("cat") != "Node" or not e.get("name", "").endswith("_kernel_time")
                or e["ts"] < first):
            continue
        ms = e["dur"] / 1e3 / frames
        op = e["args"]["op_name"]
        by_op[op] += ms
        by_node[f"{op} {e['name'][:-len('_kernel_time')]}"] += ms
        shapes = e["args"].get("output_type_shape") or [{}]
        dims = next(iter(shapes[0].values()), []) if shapes else []
        by_size[f"width {dims[-1]}" if dims else "?"][op] += ms
    total = sum(by_op.values())
    if total <= 0:
        raise InferenceError("the onnxruntime profile holds no kernel events; profiling needs "
                             "the CPU execution provider")
    return {
        "frames": frames, "kernel_ms_per_frame": round(total, 3),
        "by_op": {op: round(ms, 3) for op, ms in by_op.most_common()},
        "by_size": {size: round(sum(ops.values()), 3) for size, ops in
                    sorted(by_size.items(), key=lambda kv: -sum(kv[1].values()))},
        "top_nodes": {name: round(ms, 3) for name, ms in by_node.most_common(15)},
    }


def profile_onnx(model_bytes: bytes, input_size: tuple[int, int], out_dir: str | Path, *,
                 frames: int = 5, warmup: int = 2) -> dict[str, Any]:
    """Profile the tuned CPU session on `frames` random inputs; returns the summary."""
    from depthnet_nano_ros.inference.backends.ort_backend import OrtBackend

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    backend = OrtBackend(model_bytes, input_size, source="profiled model", use_cuda=False,
                         profile_prefix=str(out / "ort_profile"))
    x = np.random.default_rng(0).standard_normal((1, 3, *input_size)).astype(np.float32)
    start = time.perf_counter()
    for _ in range(warmup + frames):
        backend.run(x)
    wall = (time.perf_counter() - start) * 1e3 / (warmup + frames)
    trace = Path(backend.end_profiling())
    events = json.loads(trace.read_text())
    summary = summarize_trace(events, frames)
    summary.update({"trace": str(trace), "wall_ms_per_frame_profiled": round(wall, 3),
                    "layout_pass": backend.layout_pass})
    return summary


def format_summary(summary: dict[str, Any], top: int = 8) -> str:
    """A short text table of a :func:`profile_onnx` summary."""
    total = summary["kernel_ms_per_frame"]
    lines = [f"onnxruntime CPU profile: {total:.1f} ms of kernels per frame "
             f"(profiled wall {summary['wall_ms_per_frame_profiled']:.1f} ms), trace "
             f"{summary['trace']}", "  by operator:"]
    lines += [f"    {op:<16}{ms:8.2f} ms {100 * ms / total:5.1f} %"
              for op, ms in list(summary["by_op"].items())[:top]]
    lines.append("  by output width (the map's resolution):")
    lines += [f"    {size:<16}{ms:8.2f} ms {100 * ms / total:5.1f} %"
              for size, ms in list(summary["by_size"].items())[:top]]
    return "\n".join(lines)
