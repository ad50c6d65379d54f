"""Latency benchmark of DepthEstimator backends, optionally against peer networks.

Each model runs alone for a block of consecutive frames (warm caches and thread pool, as with
a camera stream), and the blocks rotate over a few rounds so that load from other processes on
a shared machine hits every model alike; ratios from one run are therefore comparable.
"""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from depthnet_nano_ros.inference.availability import cuda_available, physical_cores
from depthnet_nano_ros.inference.errors import InferenceError
from depthnet_nano_ros.inference.estimator import DepthEstimator
from depthnet_nano_ros.model.complexity import count_complexity

KITTI_IMAGE_SHAPE = (375, 1242)


@dataclass
class BenchResult:
    """One model on one backend (the JSON schema of `depthnet_nano bench --json`)."""

    model: str
    backend: str
    height: int
    width: int
    params: int
    macs: int
    median_ms: float  # network inference latency
    p90_ms: float
    fps: float  # 1000 / median_ms
    preprocess_ms: float
    postprocess_ms: float
    end_to_end_ms: float  # median of preprocess + inference + postprocess
    precision: str = "fp32"
    weights: str = "random"
    cpu_path: str = ""  # onnxruntime CPU graph that ran, e.g. "fused-kernels avx2 (...)"


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")),
                       cpu)
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu": cpu, "logical_cpus": os.cpu_count(), "physical_cores": physical_cores(),
        "python": platform.python_version(), "torch": torch.__version__,
        "platform": platform.platform(), "load_average": list(os.getloadavg()),
    }
    try:
        import onnxruntime as ort

        from depthnet_nano_ros.inference.backends.ort_backend import spin_wait

        info["onnxruntime"] = ort.__version__
        info["onnxruntime_spin_wait"] = spin_wait()
        from depthnet_nano_ros.inference.cpu.kernels import choose_isa

        isa, why = choose_isa()
        info["onnxruntime_cpu_kernels"] = isa if isa else f"unavailable: {why}"
    except ImportError:
        pass
    if cuda_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def _median_p90(values: list[float]) -> tuple[float, float]:
    arr = np.asarray(values, dtype=np.float64)
    return float(np.median(arr)), float(np.percentile(arr, 90))


def time_in_blocks(estimators: dict[str, DepthEstimator], image: np.ndarray, runs: int,
                   warmup: int, rounds: int = 3) -> dict[str, dict[str, list[float]]]:
    """Per model, lists of stage timings (ms) over `runs` frames after `warmup` frames.

    The timed frames come in `rounds` blocks per model, models taking turns block by block;
    each block starts with one untimed frame. One frame per turn instead (round-robin) would
    time every model with caches flushed and another session's workers still spinning: on
    2 cores that cost DepthNet Nano 20-25 % and FastDepth 45 %, a state no camera stream sees.
    """
    for est in estimators.values():
        for _ in range(warmup):
            est.estimate(image)
    stages = ("preprocess", "inference", "postprocess")
    out = {name: {s: [] for s in (*stages, "total")} for name in estimators}
    rounds = max(1, min(rounds, runs))
    for block in (runs // rounds + (i < runs % rounds) for i in range(rounds)):
        for name, est in estimators.items():
            est.estimate(image)
            for _ in range(block):
                t = est.estimate(image).timings_ms
                for s in stages:
                    out[name][s].append(t[s])
                out[name]["total"].append(sum(t[s] for s in stages))
    return out


def summarize(model: str, est: DepthEstimator, timings: dict[str, list[float]],
              complexity: tuple[int, int], precision: str, weights: str) -> BenchResult:
    """Reduce timings of one model to a BenchResult."""
    med, p90 = _median_p90(timings["inference"])
    h, w = est.input_size
    return BenchResult(
        model=model, backend=est.backend, height=h, width=w, params=complexity[0],
        macs=complexity[1], median_ms=round(med, 3), p90_ms=round(p90, 3),
        fps=round(1000.0 / med, 3) if med > 0 else 0.0,
        preprocess_ms=round(float(np.median(timings["preprocess"])), 3),
        postprocess_ms=round(float(np.median(timings["postprocess"])), 3),
        end_to_end_ms=round(float(np.median(timings["total"])), 3), precision=precision,
        weights=weights, cpu_path=str(est.cpu_settings.get("path", "")))


def load_nano(checkpoint: str | Path | None) -> tuple[torch.nn.Module, str]:
    """DepthNet Nano weights: the checkpoint, else the reference one, else random (same speed)."""
    from depthnet_nano_ros.model import DepthNetNano, load_checkpoint
    from depthnet_nano_ros.model.checkpoint import REFERENCE_CHECKPOINT

    if checkpoint is not None or REFERENCE_CHECKPOINT.is_file():
        model, info = load_checkpoint(checkpoint)
        return model, str(info.path)
    torch.manual_seed(0)
    return DepthNetNano().eval(), "random"


def run_bench(backends: list[str], input_size: tuple[int, int] | None, *, runs: int = 10,
              warmup: int = 2, peers: bool = False, checkpoint: str | Path | None = None,
              engine: str | Path | None = None, precision: str = "fp32",
              image: np.ndarray | None = None) -> list[BenchResult]:
    """Benchmark DepthNet Nano (and peers) on each backend at `input_size`.

    `input_size` None (only with `engine`): the engine's own input size.
    """
    from depthnet_nano_ros.inference.bench.peers import build_peer

    if image is None:
        image = np.random.default_rng(0).integers(0, 256, (*KITTI_IMAGE_SHAPE, 3), np.uint8)
    if input_size is None:
        if engine is None:
            raise InferenceError("run_bench needs an input size when no engine is given")
        first = DepthEstimator.create(checkpoint, engine, backends[0], precision)
        input_size = first.input_size
    h, w = input_size
    nano, weights = load_nano(checkpoint)
    models: dict[str, tuple[torch.nn.Module, str]] = {"depthnet_nano": (nano, weights)}
    if peers:
        for name in ("densedepth", "fastdepth"):
            torch.manual_seed(0)  # deterministic weights -> cached exports are reused
            models[name] = (build_peer(name), "random")
    complexity = {}
    for name, (model, _) in models.items():
        c = count_complexity(model, (1, 3, h, w))
        complexity[name] = (c.params, c.macs)
    results: list[BenchResult] = []
    for backend in backends:
        ests: dict[str, DepthEstimator] = {}
        for name, (model, _) in models.items():
            if name == "depthnet_nano" and engine is not None:
                ests[name] = DepthEstimator.create(checkpoint, engine, backend, precision,
                                                   input_size)
            else:
                ests[name] = DepthEstimator.from_model(model, input_size, backend,
                                                       "fp32" if name != "depthnet_nano"
                                                       else precision, source=name)
        timings = time_in_blocks(ests, image, runs, warmup)
        for name, est in ests.items():
            prec = precision if name == "depthnet_nano" else "fp32"
            results.append(summarize(name, est, timings[name], complexity[name], prec,
                                     models[name][1]))
    return results


def nano_onnx_bytes(checkpoint: str | Path | None, engine: str | Path | None,
                    input_size: tuple[int, int]) -> bytes:
    """DepthNet Nano's fp32 ONNX graph as benchmarked: the `.onnx` engine, else the export."""
    from depthnet_nano_ros.inference.export.engine_cache import model_hash
    from depthnet_nano_ros.inference.export.onnx import cached_onnx_bytes

    if engine is not None:
        if Path(engine).suffix != ".onnx":
            raise InferenceError(f"--profile reads an .onnx graph, not {engine}; drop --engine "
                                 "(the checkpoint is exported) or pass the exported .onnx")
        return Path(engine).read_bytes()
    model, _ = load_nano(checkpoint)
    return cached_onnx_bytes(model, input_size, model_hash(model))


def speed_ratios(results: list[BenchResult]) -> dict[str, dict[str, float]]:
    """Per backend: median latency of each peer divided by DepthNet Nano's (>1 = Nano faster)."""
    ratios: dict[str, dict[str, float]] = {}
    for r in results:
        if r.model == "depthnet_nano":
            continue
        nano = next((n for n in results if n.model == "depthnet_nano"
                     and n.backend == r.backend), None)
        if nano is not None and nano.median_ms > 0:
            ratios.setdefault(r.backend, {})[r.model] = round(r.median_ms / nano.median_ms, 3)
    return ratios


def to_json(results: list[BenchResult]) -> dict[str, Any]:
    """The documented JSON document: machine, results, ratios."""
    return {"machine": machine_info(), "results": [asdict(r) for r in results],
            "speedup_vs_peers": speed_ratios(results)}
