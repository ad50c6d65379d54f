"""`depthnet_nano bench`: warm-up, N timed runs; median/p90 latency and FPS per backend."""

from __future__ import annotations

import argparse
import json
import os

from depthnet_nano_ros.inference.availability import auto_backend
from depthnet_nano_ros.inference.errors import InferenceError

#: The paper's input size, timed when neither --height/--width nor --engine says otherwise.
DEFAULT_SIZE = (384, 1280)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `bench`."""
    parser.add_argument("--backend", action="append", dest="backends",
                        choices=("auto", "torch", "onnxruntime", "tensorrt", "torch2trt"),
                        help="backend to time (repeatable; default: auto)")
    parser.add_argument("--height", type=int, help="network input height (default: the "
                        "--engine's, else 384)")
    parser.add_argument("--width", type=int, help="network input width (default: the "
                        "--engine's, else 1280)")
    parser.add_argument("--runs", type=int, default=10, help="timed frames per model")
    parser.add_argument("--warmup", type=int, default=2, help="untimed frames per model first")
    parser.add_argument("--peers", action="store_true",
                        help="also time the DenseDepth-KITTI and FastDepth peers")
    parser.add_argument("--checkpoint", help="DepthNet Nano checkpoint (default: reference, "
                        "else random weights: speed does not depend on them)")
    parser.add_argument("--engine", help="time this exported artifact for DepthNet Nano")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "fp16", "int8"))
    parser.add_argument("--threads", type=int,
                        help="CPU threads for onnxruntime/torch (default: physical cores)")
    parser.add_argument("--cpu-isa", choices=("avx512", "avx2"),
                        help="fused CPU kernel build to run (as DEPTHNET_NANO_CPU_ISA; default: "
                        "the best this CPU has)")
    parser.add_argument("--no-spin", dest="spin", action="store_false",
                        help="onnxruntime workers sleep between ops instead of spinning "
                        "(as with DEPTHNET_NANO_SPIN=0; slower, kinder to a busy CPU)")
    parser.add_argument("--profile", metavar="DIR",
                        help="also profile DepthNet Nano's onnxruntime CPU session per operator "
                        "(trace JSON kept in DIR; summary printed and added to --json)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--output", help="also write the JSON document to this file")


def run(args: argparse.Namespace) -> int:
    """Benchmark and print a table (or JSON)."""
    import torch

    from depthnet_nano_ros.fileio import atomic_write_bytes
    from depthnet_nano_ros.inference.bench.benchmark import run_bench, speed_ratios, to_json

    if args.runs < 1 or args.warmup < 0:
        raise InferenceError("--runs must be >= 1 and --warmup >= 0")
    if args.threads:
        os.environ["DEPTHNET_NANO_THREADS"] = str(args.threads)
        torch.set_num_threads(args.threads)
    if not args.spin:
        os.environ["DEPTHNET_NANO_SPIN"] = "0"
    if args.cpu_isa:
        from depthnet_nano_ros.inference.cpu.kernels import ISA_SWITCH

        os.environ[ISA_SWITCH] = args.cpu_isa
    if (args.height is None) != (args.width is None):
        raise InferenceError("give both --height and --width, or neither")
    size = None if args.height is None else (args.height, args.width)
    if size is None and args.engine is None:
        size = DEFAULT_SIZE
    backends = [auto_backend() if b == "auto" else b for b in (args.backends or ["auto"])]
    results = run_bench(list(dict.fromkeys(backends)), size,
                        runs=args.runs, warmup=args.warmup, peers=args.peers,
                        checkpoint=args.checkpoint, engine=args.engine,
                        precision=args.precision)
    doc = to_json(results)
    if args.profile:
        from depthnet_nano_ros.inference.bench.benchmark import nano_onnx_bytes
        from depthnet_nano_ros.inference.bench.ort_profile import profile_onnx

        size = next(((r.height, r.width) for r in results if r.model == "depthnet_nano"),
                    size or DEFAULT_SIZE)
        doc["profile"] = profile_onnx(nano_onnx_bytes(args.checkpoint, args.engine, size),
                                      size, args.profile)
    if args.output:
        from pathlib import Path

        atomic_write_bytes(Path(args.output), json.dumps(doc, indent=2).encode())
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    print(f"{'model':<15}{'backend':<13}{'size':>10}{'params M':>10}{'GMACs':>9}"
          f"{'median ms':>11}{'p90 ms':>9}{'FPS':>8}{'pre ms':>8}{'post ms':>9}")
    for r in results:
        print(f"{r.model:<15}{r.backend:<13}{f'{r.height}x{r.width}':>10}"
              f"{r.params / 1e6:>10.2f}{r.macs / 1e9:>9.2f}{r.median_ms:>11.1f}{r.p90_ms:>9.1f}"
              f"{r.fps:>8.2f}{r.preprocess_ms:>8.1f}{r.postprocess_ms:>9.1f}")
    for r in results:
        if r.model == "depthnet_nano" and r.cpu_path:
            print(f"[{r.backend}] depthnet_nano CPU path: {r.cpu_path}")
    if args.profile:
        from depthnet_nano_ros.inference.bench.ort_profile import format_summary

        print(format_summary(doc["profile"]))
    for backend, peers in speed_ratios(results).items():
        for peer, ratio in peers.items():
            relation = (f"{ratio:.2f}x faster than" if ratio >= 1
                        else f"{1 / ratio:.2f}x slower than")
            print(f"[{backend}] depthnet_nano is {relation} {peer} (median inference latency)")
    return 0
