"""`depthnet_nano bench-node`: end-to-end benchmark of depth_node against the bare estimator.

1. The bare estimator on one 1242x375 frame (frames per second).
2. depth -> organized cloud, vectorized vs a per-point Python loop building the same bytes.
3. depth_node in its own process, fed frames at a fixed rate (default 1.25x the bare rate, so
   it is never idle) with depth, depth/colored, points and scan subscribed: output rate, end-to-end
   latency, and the node's own per-stage latencies from /diagnostics.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import struct
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from depthnet_nano_ros.fileio import atomic_write_bytes, read_rgb
from depthnet_nano_ros.geometry.cloud import depth_to_cloud
from depthnet_nano_ros.geometry.image_codec import array_to_image_fields
from depthnet_nano_ros.ros.heap import keep_freed_memory
from depthnet_nano_ros.ros.node_executable import BenchNodeError, depth_node_executable

KITTI_SIZE = (375, 1242)
#: A KITTI-like pinhole camera (P_rect_02 of 2011_09_26) for the synthetic CameraInfo.
KITTI_P = (721.5377, 0.0, 609.5593, 44.85728, 0.0, 721.5377, 172.854, 0.2163791,
           0.0, 0.0, 1.0, 0.002745884)
GOALS = {"node_vs_bare": 0.95, "non_inference_ms": 3.0, "cloud_speedup": 100.0}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `depthnet_nano bench-node`."""
    parser.add_argument("--checkpoint", default=None, help="checkpoint .pt (default: reference)")
    parser.add_argument("--engine", default=None, help="exported engine instead of a checkpoint")
    parser.add_argument("--backend", default="auto", help="auto|torch|onnxruntime|tensorrt|...")
    parser.add_argument("--precision", default="fp32", help="fp32 | fp16 | int8")
    parser.add_argument("--input-size", type=int, nargs=2, metavar=("H", "W"), default=None,
                        help="network input (multiples of 32); default: the checkpoint's")
    parser.add_argument("--image", type=Path, default=None,
                        help="RGB image to publish (default: a synthetic 1242x375 frame)")
    parser.add_argument("--frames", type=int, default=40, help="frames published to the node")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="publish rate in Hz (default: 1.25x the bare estimator's rate)")
    parser.add_argument("--decimation", type=int, default=1, help="cloud.decimation of the node")
    parser.add_argument("--no-colored", action="store_true",
                        help="do not subscribe depth/colored (the node then skips the colour map)")
    parser.add_argument("--no-points", action="store_true",
                        help="do not subscribe points (the node then skips the cloud)")
    parser.add_argument("--no-scan", action="store_true",
                        help="do not subscribe scan (the node then skips the LaserScan)")
    parser.add_argument("--json", type=Path, default=None, help="also write results as JSON")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for the node")
    parser.add_argument("--threads", type=int, default=0,
                        help="CPU threads for torch/onnxruntime in both the bare run and the node "
                        "(OMP_NUM_THREADS, DEPTHNET_NANO_THREADS); 0 = library default. "
                        "Use 1 on a busy machine")
    parser.add_argument("--fuzz", type=int, default=0, metavar="N",
                        help="instead: send N fuzzed Image/CompressedImage/CameraInfo messages "
                        "and count crashes, hangs and wrong outputs")
    parser.add_argument("--soak", type=float, default=0.0, metavar="SECONDS",
                        help="instead: publish at --rate (default 30 Hz) for SECONDS; RSS, "
                        "latency p50/p99 and drops per time window")
    parser.add_argument("--seed", type=int, default=0, help="--fuzz: random seed of the cases")
    parser.add_argument("--case-timeout", type=float, default=20.0,
                        help="--fuzz: seconds before an unanswered message counts as a hang")


def _load_rgb(path: Path | None) -> np.ndarray:
    """The frame to publish: an image file, or a deterministic synthetic 1242x375 scene."""
    if path is not None:
        if not path.is_file():
            raise BenchNodeError(f"--image {path} does not exist; pass an RGB image file")
        try:
            return read_rgb(path)
        except OSError as exc:
            raise BenchNodeError(f"--image {path} is not a readable image: {exc}") from exc
    h, w = KITTI_SIZE
    v, u = np.mgrid[0:h, 0:w].astype(np.float32)
    rgb = np.stack([u / w * 255, v / h * 255, 128 + 100 * np.sin(u / 25) * np.cos(v / 25)], 2)
    noise = np.random.default_rng(0).integers(0, 20, (h, w, 3))
    return np.clip(rgb + noise, 0, 255).astype(np.uint8)


def _cloud_loop(depth: np.ndarray, fx: float, fy: float, cx: float, cy: float) -> bytes:
    """Reference: the same organized xyz cloud bytes, one point at a time in Python."""
    h, w = depth.shape
    out = bytearray(12 * h * w)
    nan = float("nan")
    for v in range(h):
        for u in range(w):
            d = float(depth[v, u])
            if d > 0 and d != float("inf"):
                point = ((u - cx) * d / fx, (v - cy) * d / fy, d)
            else:
                point = (nan, nan, nan)
            struct.pack_into("<3f", out, 12 * (v * w + u), *point)
    return bytes(out)


def bench_cloud(depth: np.ndarray, repeat: int = 20) -> dict[str, float]:
    """Vectorized vs per-point loop timings (ms) for one depth map; checks they agree."""
    fx, fy, cx, cy = KITTI_P[0], KITTI_P[5], KITTI_P[2], KITTI_P[6]
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        cloud = depth_to_cloud(depth, fx, fy, cx, cy)
        times.append(time.perf_counter() - t)
    t = time.perf_counter()
    loop = _cloud_loop(depth, fx, fy, cx, cy)
    loop_ms = (time.perf_counter() - t) * 1e3
    a = np.frombuffer(cloud.data, "<f4")
    b = np.frombuffer(loop, "<f4")
    if not np.allclose(a, b, rtol=1e-4, atol=1e-4, equal_nan=True):
        raise BenchNodeError("vectorized cloud differs from the per-point loop")
    vec_ms = float(np.median(times)) * 1e3
    return {"vectorized_ms": vec_ms, "loop_ms": loop_ms, "speedup": loop_ms / vec_ms}


def bench_frame_work(rgb: np.ndarray, depth: np.ndarray, repeat: int = 20) -> dict[str, float]:
    """The node's own per-frame work on one thread, no DDS (median ms per step)."""
    from std_msgs.msg import Header

    from depthnet_nano_ros.geometry.camera import Intrinsics
    from depthnet_nano_ros.geometry.colormap import colorize
    from depthnet_nano_ros.geometry.depth_encoding import encode_depth
    from depthnet_nano_ros.geometry.image_codec import color_from_image
    from depthnet_nano_ros.geometry.temporal_filter import TemporalFilter
    from depthnet_nano_ros.ros.depth_messages import cloud_msg, image_msg, scan_msg

    f = array_to_image_fields(rgb, "rgb8")
    steady = TemporalFilter()  # the second and later calls do the full blend
    k = Intrinsics(KITTI_P[0], KITTI_P[5], KITTI_P[2], KITTI_P[6], rgb.shape[1], rgb.shape[0])

    def mask() -> np.ndarray:
        d = depth.copy()
        d[(d < 1.0) | (d > 80.0)] = np.nan
        return d

    steps = {
        "decode": lambda: color_from_image("rgb8", f["height"], f["width"], f["step"], 0,
                                           f["data"]),
        "mask": mask,
        "depth_msg": lambda: image_msg(Header(), depth, "32FC1"),
        "depth_msg_16uc1": lambda: image_msg(Header(), encode_depth(depth, "16UC1")[0],
                                             "16UC1"),
        "cloud_msg": lambda: cloud_msg(Header(), depth, k, 1, None),
        "scan_msg": lambda: scan_msg(Header(), depth, k, 9, 1.0, 30.0),
        "temporal": lambda: steady(rgb, depth),
        "colorize_msg": lambda: image_msg(Header(), colorize(depth, 1.0, 50.0), "rgb8"),
    }
    out = {}
    for name, step in steps.items():
        step()
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            step()
            times.append(time.perf_counter() - t)
        out[name] = float(np.median(times)) * 1e3
    optional = ("colorize_msg", "depth_msg_16uc1")  # instead of / besides the default work
    out["total_without_colorize"] = sum(v for n, v in out.items() if n not in optional)
    return out


def bench_estimator(est: Any, rgb: np.ndarray, repeat: int = 10) -> dict[str, float]:
    """Bare estimator on `rgb`: mean ms per stage and frames per second."""
    est.estimate(rgb)
    est.estimate(rgb)
    runs = []
    t0 = time.perf_counter()
    for _ in range(repeat):
        runs.append(est.estimate(rgb).timings_ms)
    wall = time.perf_counter() - t0
    stages = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
    return {**stages, "fps": repeat / wall, "ms": wall / repeat * 1e3}


def _node_command(args: argparse.Namespace, decimation: int) -> list[str]:
    exe_path = depth_node_executable()
    params = {"model.backend": args.backend, "model.precision": args.precision,
              "cloud.decimation": decimation, "diagnostics.period": 0.5,
              "qos.input.depth": 1}
    if args.checkpoint:
        params["model.checkpoint"] = str(Path(args.checkpoint).resolve())
    if args.engine:
        params["model.engine"] = str(Path(args.engine).resolve())
    if args.input_size:
        params["model.input_height"], params["model.input_width"] = args.input_size
    cmd = [exe_path, "--ros-args", "-r", "__node:=depth_node_bench", "-r", "__ns:=/depthnet_bench"]
    for k, v in params.items():
        cmd += ["-p", f"{k}:={v}"]
    return cmd


def bench_node(args: argparse.Namespace, rgb: np.ndarray, rate: float) -> dict[str, Any]:
    """Run depth_node in a subprocess, publish `args.frames` frames at `rate`, measure outputs."""
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo, Image, LaserScan, PointCloud2

    fields = array_to_image_fields(rgb, "rgb8")
    image = Image(**{k: v for k, v in fields.items() if k != "data"})
    image.data = fields["data"]
    image.header.frame_id = "camera"
    info = CameraInfo(height=rgb.shape[0], width=rgb.shape[1], distortion_model="plumb_bob",
                      p=list(KITTI_P))
    info.header.frame_id = "camera"
    log = tempfile.NamedTemporaryFile("w+", prefix="depth_node_bench.", suffix=".log",
                                      delete=False)
    env = dict(os.environ)
    if args.threads:
        env["OMP_NUM_THREADS"] = env["DEPTHNET_NANO_THREADS"] = str(args.threads)
    proc = subprocess.Popen(_node_command(args, args.decimation), stdout=log,
                            stderr=subprocess.STDOUT, env=env)
    ctx = Context()
    rclpy.init(context=ctx)
    node = rclpy.create_node("depthnet_bench_driver", namespace="/depthnet_bench", context=ctx)
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    sent: dict[tuple[int, int], float] = {}
    got: dict[tuple[int, int], float] = {}
    diag: list[dict[str, str]] = []

    def on_depth(msg: Image) -> None:
        got.setdefault((msg.header.stamp.sec, msg.header.stamp.nanosec), time.monotonic())

    def on_diag(msg: DiagnosticArray) -> None:
        for s in msg.status:
            if "depth_node_bench" in s.name:
                diag.append({kv.key: kv.value for kv in s.values})

    def spin_until(pred, timeout: float, what: str) -> None:
        end = time.monotonic() + timeout
        while not pred():
            if proc.poll() is not None:
                raise BenchNodeError(f"depth_node exited (log: {log.name})")
            if time.monotonic() > end:
                raise BenchNodeError(f"timed out waiting for {what} (node log: {log.name})")
            executor.spin_once(timeout_sec=0.01)

    try:
        image_pub = node.create_publisher(Image, "image", qos_profile_sensor_data)
        info_pub = node.create_publisher(CameraInfo, "camera_info", qos_profile_sensor_data)
        subs = [node.create_subscription(Image, "depth", on_depth, qos_profile_sensor_data),
                node.create_subscription(DiagnosticArray, "/diagnostics", on_diag, 10)]
        # raw: the node computes and sends these; the driver skips deserializing them
        if not args.no_colored:
            subs.append(node.create_subscription(Image, "depth/colored", lambda m: None,
                                                 qos_profile_sensor_data, raw=True))
        if not args.no_points:
            subs.append(node.create_subscription(PointCloud2, "points", lambda m: None,
                                                 qos_profile_sensor_data, raw=True))
        if not args.no_scan:
            subs.append(node.create_subscription(LaserScan, "scan", lambda m: None,
                                                 qos_profile_sensor_data, raw=True))
        spin_until(lambda: image_pub.get_subscription_count() > 0
                   and all(s.get_publisher_count() > 0 for s in subs), args.timeout,
                   "depth_node to start")

        def publish() -> tuple[int, int]:
            stamp = node.get_clock().now().to_msg()
            image.header.stamp = info.header.stamp = stamp
            info_pub.publish(info)
            image_pub.publish(image)
            key = (stamp.sec, stamp.nanosec)
            sent[key] = time.monotonic()
            return key

        warm: list[tuple[int, int]] = []  # warm-up frames (the first inference is slow)
        deadline = time.monotonic() + args.timeout
        while not any(k in got for k in warm):  # best effort: re-send until one comes back
            warm.append(publish())
            retry = time.monotonic() + 5.0
            spin_until(lambda t=retry: any(k in got for k in warm) or time.monotonic() >= t,
                       max(1.0, deadline - time.monotonic()), "the first depth image")
        n_diag = len(diag)
        spin_until(lambda: len(diag) >= n_diag + 2, 10, "/diagnostics")
        before = diag[-1]
        sent.clear()
        got.clear()
        t0 = time.monotonic()
        for i in range(args.frames):
            spin_until(lambda i=i: time.monotonic() >= t0 + i / rate, 60, "the publish time")
            last = publish()
        end = time.monotonic() + 30
        spin_until(lambda: last in got or time.monotonic() > end, 60, "the last depth image")
        n_diag = len(diag)
        spin_until(lambda: len(diag) >= n_diag + 2, 10, "/diagnostics")
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=ctx)
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        log.close()
    times = sorted(got.values())
    latency = [(got[k] - sent[k]) * 1e3 for k in got if k in sent]
    after = diag[-1]
    frames = int(after["processed"]) - int(before["processed"])
    stages = {k.split(".", 1)[1]: (float(v) - float(before.get(k, 0.0))) / max(frames, 1)
              for k, v in after.items() if k.startswith("sum_ms.")}
    return {
        "published": len(sent), "received": len(got), "rate_hz": rate,
        "fps": (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0,
        "latency_ms_p50": float(np.percentile(latency, 50)) if latency else float("nan"),
        "latency_ms_p95": float(np.percentile(latency, 95)) if latency else float("nan"),
        "stages_ms": stages, "counters": {k: diag[-1][k] for k in ("received", "processed",
                                                                   "dropped", "bad_input")},
        "backend": diag[-1].get("backend", "?"), "input_size": diag[-1].get("input_size", "?"),
    }


def run(args: argparse.Namespace) -> int:
    """Run the three measurements and print them with the goals."""
    from depthnet_nano_ros.inference.estimator import DepthEstimator

    os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", _shipped_profile())
    if args.fuzz or args.soak:
        return _run_hostile(args)
    keep_freed_memory()  # as depth_node does, so the bare run is measured the same way
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
        os.environ["DEPTHNET_NANO_THREADS"] = str(args.threads)  # onnxruntime sessions
    rgb = _load_rgb(args.image)
    est = DepthEstimator.create(checkpoint=args.checkpoint, engine=args.engine,
                                backend=args.backend, precision=args.precision,
                                input_size=tuple(args.input_size) if args.input_size else None)
    h, w = est.input_size
    print(f"image {rgb.shape[1]}x{rgb.shape[0]}, network input {h}x{w}, backend {est.backend}")
    bare = bench_estimator(est, rgb)
    print(f"bare estimator: {bare['ms']:.1f} ms/frame = {bare['fps']:.2f} fps "
          f"(preprocess {bare['preprocess']:.1f}, inference {bare['inference']:.1f}, "
          f"postprocess {bare['postprocess']:.1f} ms)")
    depth = est.estimate(rgb).depth
    cloud = bench_cloud(depth)
    print(f"depth -> cloud ({rgb.shape[1]}x{rgb.shape[0]} points): vectorized "
          f"{cloud['vectorized_ms']:.2f} ms, per-point loop {cloud['loop_ms']:.0f} ms, "
          f"speedup {cloud['speedup']:.0f}x (goal >= {GOALS['cloud_speedup']:.0f}x)")
    work = bench_frame_work(rgb, depth)
    print("node's own work per frame, one thread, no DDS (median ms): "
          + ", ".join(f"{k} {v:.2f}" for k, v in work.items())
          + f" (goal <= {GOALS['non_inference_ms']} ms without the optional depth/colored)")
    del est
    rate = args.rate or 1.25 * bare["fps"]
    node = bench_node(args, rgb, rate)
    st = node["stages_ms"]
    non_inference = st.get("total", float("nan")) - st.get("inference", 0.0)
    own = st.get("total", float("nan")) - sum(st.get(k, 0.0) for k in
                                              ("preprocess", "inference", "postprocess"))
    ratio = node["fps"] / bare["fps"]
    print(f"depth_node ({node['backend']}, {node['input_size']}): published {node['published']} "
          f"frames at {rate:.2f} Hz, got {node['received']} depth images = {node['fps']:.2f} fps "
          f"= {ratio:.2f}x bare (goal >= {GOALS['node_vs_bare']}); counters {node['counters']}")
    estimate_ms = sum(st.get(k, 0.0) for k in ("decode", "preprocess", "inference",
                                                "postprocess"))
    busy = node["fps"] * estimate_ms / 1e3
    print(f"  inference-thread utilisation (fps x decode+estimate ms in the node): {busy:.2f} "
          "(1.0 = the estimator never waits for the rest of the node; robust to CPU load from "
          "other processes, unlike the ratio to the bare run)")
    print(f"  end-to-end latency p50 {node['latency_ms_p50']:.1f} ms, "
          f"p95 {node['latency_ms_p95']:.1f} ms")
    print("  node stages (mean ms over the measured frames): "
          + ", ".join(f"{k} {v:.2f}" for k, v in st.items()))
    print(f"  non-inference work per frame (total - inference): {non_inference:.2f} ms "
          f"(goal <= {GOALS['non_inference_ms']} ms; includes the estimator's resize and "
          f"normalization); the node's own share (decode, mask, publish, colorize, cloud): "
          f"{own:.2f} ms")
    results = {"bare": bare, "cloud": cloud, "frame_work": work, "node": node,
               "node_vs_bare": ratio, "inference_utilisation": busy,
               "non_inference_ms": non_inference, "node_own_ms": own, "goals": GOALS}
    if args.json:
        _write_json(args.json, results)
    return 0


def _run_hostile(args: argparse.Namespace) -> int:
    """--fuzz / --soak (bench_hostile.py); exit 1 if the node crashed, hung or was wrong."""
    from depthnet_nano_ros.ros import bench_hostile

    if args.fuzz < 0 or args.soak < 0:
        raise BenchNodeError("--fuzz and --soak take a positive count / duration")
    results: dict[str, Any] = {}
    if args.fuzz:
        results["fuzz"] = bench_hostile.run_fuzz(args)
    if args.soak:
        results["soak"] = bench_hostile.run_soak(args, _load_rgb(args.image))
    if args.json:
        _write_json(args.json, results)
    fuzz = results.get("fuzz", {})
    faults = sum(fuzz.get(k, 0) for k in ("crashes", "hangs", "wrong_outputs",
                                          "internal_errors", "misclassified"))
    return int(bool(faults or results.get("soak", {}).get("crashed")))


def _shipped_profile() -> str:
    """The package's large-data Fast DDS profile (installed share, else the source tree)."""
    try:
        from ament_index_python.packages import get_package_share_directory

        return str(Path(get_package_share_directory("depthnet_nano_ros"), "config",
                        "fastdds_large_data.xml"))
    except Exception:  # not installed as a ROS package: use the checkout's copy
        return str(Path(__file__).resolve().parents[2] / "config" / "fastdds_large_data.xml")


def _write_json(path: Path, results: dict[str, Any]) -> None:
    """Write `results` atomically."""
    atomic_write_bytes(path, json.dumps(results, indent=2, default=float).encode())
