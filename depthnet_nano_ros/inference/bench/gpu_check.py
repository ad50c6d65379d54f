"""GPU latency check (`make gpu-check`, scripts/gpu_check.sh): DepthNet Nano vs its peers on CUDA.

Batch 1 at 384x1280 and 192x640; torch CUDA fp32 / fp16, each without and with CUDA graphs;
onnxruntime's CUDA provider when the installed onnxruntime has it. Every case is warmed up,
then timed frame by frame (host clock around a synchronized run: what a node waits for);
median and p90 go into one JSON document. A case that cannot run records why and the rest
go on; a time budget keeps the whole check under five minutes. Without CUDA it refuses with
exit code 3 (one line on stderr) unless `--cpu-dry-run` (tiny inputs on the CPU: tests the
code path, no GPU numbers).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

SIZES = ((384, 1280), (192, 640))
DRY_RUN_SIZES = ((64, 128),)
MODELS = ("depthnet_nano", "fastdepth", "densedepth")
EXIT_NO_CUDA = 3  # 2 stays argparse's "bad arguments"


def _model(name: str):
    """A network in eval mode with deterministic random weights (speed does not need weights)."""
    import torch

    torch.manual_seed(0)
    if name == "depthnet_nano":
        from depthnet_nano_ros.model.depthnet_nano import DepthNetNano

        return DepthNetNano().eval()
    from depthnet_nano_ros.inference.bench.peers import build_peer

    return build_peer(name)


def time_runs(fn: Callable[[], object], warmup: int, runs: int,
              sync: Callable[[], None]) -> dict[str, float]:
    """Median / p90 wall time (ms) of `runs` synchronized calls after `warmup` calls."""
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - t0) * 1e3)
    arr = np.asarray(times)
    return {"median_ms": round(float(np.median(arr)), 3),
            "p90_ms": round(float(np.percentile(arr, 90)), 3), "runs": runs}


def torch_case(model, size: tuple[int, int], device: str, fp16: bool,
               graphs: bool) -> Callable[[], object]:
    """A no-argument callable running `model` once (replaying a captured CUDA graph if asked)."""
    import torch

    dtype = torch.float16 if fp16 else torch.float32
    net = model.to(device=device, dtype=dtype)
    x = torch.rand(1, 3, *size, device=device, dtype=dtype)
    if not graphs:
        def run() -> object:
            with torch.inference_mode():
                return net(x)
        return run
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream), torch.inference_mode():
        for _ in range(3):  # warm up allocations and cuDNN choices outside the capture
            net(x)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph), torch.inference_mode():
        net(x)
    return graph.replay


def onnx_bytes(name: str, size: tuple[int, int], onnx_dir: Path | None) -> bytes:
    """The model's ONNX graph: `onnx_dir/<name>_<h>x<w>.onnx` if there, else exported (and kept)."""
    path = onnx_dir / f"{name}_{size[0]}x{size[1]}.onnx" if onnx_dir else None
    if path is not None and path.is_file():
        return path.read_bytes()
    from depthnet_nano_ros.inference.export.onnx import export_onnx_bytes

    data = export_onnx_bytes(_model(name), size)
    if path is not None:
        from depthnet_nano_ros.fileio import atomic_write_bytes

        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data)
    return data


def ort_case(data: bytes, size: tuple[int, int], provider: str) -> Callable[[], object]:
    """A callable running the ONNX graph once on `provider` (host input and output)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    providers = list(dict.fromkeys([provider, "CPUExecutionProvider"]))
    session = ort.InferenceSession(data, so, providers=providers)
    if session.get_providers()[0] != provider:
        raise RuntimeError(f"onnxruntime fell back to {session.get_providers()[0]}")
    feed = {session.get_inputs()[0].name: np.random.rand(1, 3, *size).astype(np.float32)}
    return lambda: session.run(None, feed)


def machine(device: str) -> dict[str, Any]:
    """What the numbers were measured on."""
    import torch

    info: dict[str, Any] = {"python": platform.python_version(), "torch": torch.__version__,
                            "device": device, "platform": platform.platform()}
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
    try:
        import onnxruntime as ort

        info["onnxruntime"] = ort.__version__
        info["onnxruntime_providers"] = ort.get_available_providers()
    except ImportError as exc:
        info["onnxruntime"] = f"unavailable: {exc}"
    return info


def _cases(device: str) -> list[tuple[str, str, bool]]:
    """(runtime, precision, cuda_graphs) to time on `device`."""
    if device != "cuda":
        return [("torch", "fp32", False), ("onnxruntime", "fp32", False)]
    return [("torch", "fp32", False), ("torch", "fp32", True), ("torch", "fp16", False),
            ("torch", "fp16", True), ("onnxruntime", "fp32", False)]


def run_check(device: str, sizes: tuple[tuple[int, int], ...], warmup: int, runs: int,
              budget_s: float, onnx_dir: Path | None = None,
              models: tuple[str, ...] = MODELS) -> dict[str, Any]:
    """Time every (size, model, case); the JSON document with results and ratios vs peers."""
    import torch

    torch.backends.cudnn.benchmark = device == "cuda"
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    provider = "CUDAExecutionProvider" if device == "cuda" else "CPUExecutionProvider"
    start, results = time.monotonic(), []
    for size in sizes:
        for name in models:
            for runtime, precision, graphs in _cases(device):
                row: dict[str, Any] = {"model": name, "height": size[0], "width": size[1],
                                       "runtime": runtime, "precision": precision,
                                       "cuda_graphs": graphs}
                results.append(row)
                if time.monotonic() - start > budget_s:
                    row["skipped"] = f"time budget of {budget_s:.0f} s spent"
                    continue
                try:
                    if runtime == "torch":
                        fn = torch_case(_model(name), size, device, precision == "fp16", graphs)
                    else:
                        fn = ort_case(onnx_bytes(name, size, onnx_dir), size, provider)
                    row.update(time_runs(fn, warmup, runs, sync))
                except Exception as exc:  # one case failing must not lose the others
                    row["skipped"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
                finally:
                    if device == "cuda":
                        torch.cuda.empty_cache()
    return {"machine": machine(device), "warmup": warmup, "runs": runs,
            "elapsed_s": round(time.monotonic() - start, 1), "results": results,
            "speedup_vs_peers": speedups(results)}


def speedups(results: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per "HxW runtime precision [cuda-graphs]": peer median / Nano median (>1: Nano faster)."""
    out: dict[str, dict[str, float]] = {}
    key = ("height", "width", "runtime", "precision", "cuda_graphs")
    for nano in (r for r in results if r["model"] == "depthnet_nano" and "median_ms" in r):
        label = (f"{nano['height']}x{nano['width']} {nano['runtime']} {nano['precision']}"
                 + (" cuda-graphs" if nano["cuda_graphs"] else ""))
        for peer in results:
            if (peer["model"] != "depthnet_nano" and "median_ms" in peer
                    and all(peer[k] == nano[k] for k in key)):
                out.setdefault(label, {})[peer["model"]] = round(
                    peer["median_ms"] / nano["median_ms"], 3)
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Options of the GPU check."""
    p = argparse.ArgumentParser(prog="gpu_check", description=__doc__.splitlines()[0])
    p.add_argument("--output", type=Path, default=Path("gpu_check.json"), help="JSON file")
    p.add_argument("--warmup", type=int, default=10, help="untimed runs per case")
    p.add_argument("--runs", type=int, default=50, help="timed runs per case")
    p.add_argument("--budget-s", type=float, default=240.0,
                   help="stop starting new cases after this many seconds")
    p.add_argument("--onnx-dir", type=Path,
                   help="read <model>_<h>x<w>.onnx from here (exported and kept when missing)")
    p.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS),
                   help="networks to time (default: all three)")
    p.add_argument("--cpu-dry-run", action="store_true",
                   help="no GPU: tiny inputs on the CPU, 1 warm-up and 2 runs (tests the path)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the check and write the JSON; exit 3 without CUDA (unless --cpu-dry-run)."""
    args = parse_args(argv)
    import torch

    if args.cpu_dry_run:
        doc = run_check("cpu", DRY_RUN_SIZES, 1, 2, args.budget_s, args.onnx_dir,
                        tuple(args.models))
    elif not torch.cuda.is_available():
        print("gpu_check: error: no CUDA device (torch.cuda.is_available() is False); run it on "
              "a machine with an NVIDIA GPU, or pass --cpu-dry-run to test the script",
              file=sys.stderr)
        return EXIT_NO_CUDA
    else:
        doc = run_check("cuda", SIZES, args.warmup, args.runs, args.budget_s, args.onnx_dir,
                        tuple(args.models))
    from depthnet_nano_ros.fileio import atomic_write_bytes

    atomic_write_bytes(args.output, json.dumps(doc, indent=2).encode())
    for r in doc["results"]:
        what = (f"{r['median_ms']:9.2f} ms median {r['p90_ms']:9.2f} ms p90" if "median_ms" in r
                else f"skipped: {r['skipped']}")
        print(f"{r['model']:<14}{r['height']}x{r['width']:<6}{r['runtime']:<12}"
              f"{r['precision']:<5}{'graphs' if r['cuda_graphs'] else '':<7}{what}")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
