"""`depthnet_nano bench-node --fuzz N` and `--soak SECONDS`: hostile and long runs of depth_node.

--fuzz sends N fuzzed messages (fuzz_cases.py) one at a time, each waited for until the node's
/diagnostics account for it, to a raw-input and a compressed-input depth_node in their own
processes, and counts crashes, hangs, wrong outputs (depth for a rejected input, depth of the
wrong size, camera_info or points from a rejected CameraInfo, missing outputs), inputs counted
as internal errors instead of bad input, and the nodes' peak memory.
--soak publishes one 1242x375 frame at a steady rate for SECONDS and prints, per time window,
frames sent / received, latency p50 / p99 and the node's resident memory.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from depthnet_nano_ros.errors import DepthNetNanoError
from depthnet_nano_ros.ros.fuzz_cases import FuzzCase, camera_info_fields, make_cases, png_bomb

#: The fuzzed nodes' input.max_pixels (small, so oversize raw cases stay cheap to build).
FUZZ_MAX_PIXELS = 1_000_000
COUNTERS = ("received", "processed", "dropped", "bad_input", "bad_camera_info", "errors")


class HostileBenchError(DepthNetNanoError):
    """The fuzz or soak run could not start (node missing, no DDS matching)."""


def _rss_mb(pid: int, key: str = "VmRSS") -> float:
    """Resident (or peak, key VmHWM) memory of process `pid` in MB; NaN if unreadable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


class _Rig:
    """depth_node processes (one per namespace) and a driver node in a private context."""

    def __init__(self, args: argparse.Namespace, nodes: dict[str, dict[str, Any]]) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor

        from depthnet_nano_ros.ros.node_executable import depth_node_executable

        exe = depth_node_executable()
        env = dict(os.environ)
        if args.threads:
            env["OMP_NUM_THREADS"] = env["DEPTHNET_NANO_THREADS"] = str(args.threads)
        base = {"model.backend": args.backend, "model.precision": args.precision}
        if args.checkpoint:
            base["model.checkpoint"] = str(Path(args.checkpoint).resolve())
        if args.engine:
            base["model.engine"] = str(Path(args.engine).resolve())
        if args.input_size:
            base["model.input_height"], base["model.input_width"] = args.input_size
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, str] = {}
        for ns, params in nodes.items():
            log = tempfile.NamedTemporaryFile("w", prefix=f"depth_node{ns.replace('/', '_')}.",
                                              suffix=".log", delete=False)
            cmd = [exe, "--ros-args", "-r", f"__ns:={ns}"]
            for k, v in {**base, **params}.items():
                cmd += ["-p", f"{k}:={str(v).lower() if isinstance(v, bool) else v}"]
            self.procs[ns] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
            self.logs[ns] = log.name
            log.close()
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("depthnet_hostile_driver", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.diag: dict[str, dict[str, str]] = {}
        self.diag_count = 0
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 50)

    def _on_diag(self, msg: Any) -> None:
        for s in msg.status:
            ns = s.name.rsplit("/depth_node", 1)[0]
            if ns in self.procs:
                self.diag[ns] = {kv.key: kv.value for kv in s.values}
                self.diag_count += 1

    def dead(self) -> list[str]:
        """Namespaces whose node process has exited."""
        return [ns for ns, p in self.procs.items() if p.poll() is not None]

    def spin_until(self, pred: Callable[[], bool], timeout: float) -> bool:
        """Spin until `pred()` (True) or timeout / a node died (False)."""
        end = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > end or self.dead():
                return False
            self.executor.spin_once(timeout_sec=0.01)
        return True

    def close(self) -> dict[str, int | None]:
        """Stop the driver and the nodes (SIGINT, then SIGKILL); returns their exit codes."""
        import rclpy

        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        codes = {}
        for ns, p in self.procs.items():
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(10)
            codes[ns] = p.returncode
        return codes


def _fill(msg: Any, fields: dict[str, Any]) -> Any:
    for k, v in fields.items():
        setattr(msg, k, v)
    return msg


class _Outputs:
    """Messages of one node's outputs, by stamp second."""

    def __init__(self, rig: _Rig, ns: str, topics: dict[str, Any]) -> None:
        from rclpy.qos import qos_profile_sensor_data

        self.by: dict[str, dict[int, list[Any]]] = {t: {} for t in topics}
        self.subs = [rig.node.create_subscription(
            typ, f"{ns}/{t}", lambda m, t=t: self.by[t].setdefault(m.header.stamp.sec,
                                                                    []).append(m),
            qos_profile_sensor_data) for t, typ in topics.items()]

    def get(self, topic: str, sec: int) -> list[Any]:
        return self.by[topic].get(sec, [])


def run_fuzz(args: argparse.Namespace) -> dict[str, Any]:
    """Send args.fuzz fuzzed messages; returns and prints the fault counts."""
    from builtin_interfaces.msg import Time
    from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

    bomb = png_bomb()
    cases = make_cases(args.fuzz, seed=args.seed, max_pixels=FUZZ_MAX_PIXELS, bomb=bomb)
    common = {"qos.input.reliability": "reliable", "qos.input.depth": 10,
              "diagnostics.period": 0.1, "diagnostics.warn_throttle": 1.0,
              "input.max_pixels": FUZZ_MAX_PIXELS}
    target = {"image": "/fuzz_raw", "camera_info": "/fuzz_raw", "compressed": "/fuzz_cmp"}
    rig = _Rig(args, {"/fuzz_raw": common, "/fuzz_cmp": {**common, "input.compressed": True}})
    faults = {"crashes": 0, "hangs": 0, "wrong_outputs": 0, "internal_errors": 0,
              "misclassified": 0, "dropped": 0}
    problems: list[str] = []
    t0 = time.monotonic()
    try:
        n = rig.node
        image_pub = n.create_publisher(Image, "/fuzz_raw/image", 10)
        cmp_pub = n.create_publisher(CompressedImage, "/fuzz_cmp/image/compressed", 10)
        info_pubs = {ns: n.create_publisher(CameraInfo, f"{ns}/camera_info", 10)
                     for ns in ("/fuzz_raw", "/fuzz_cmp")}
        outs = {"/fuzz_raw": _Outputs(rig, "/fuzz_raw", {"depth": Image,
                                                         "depth/camera_info": CameraInfo,
                                                         "points": PointCloud2}),
                "/fuzz_cmp": _Outputs(rig, "/fuzz_cmp", {"depth": Image,
                                                         "depth/camera_info": CameraInfo})}
        pubs = [image_pub, cmp_pub, *info_pubs.values()]
        subs = [s for o in outs.values() for s in o.subs]
        if not rig.spin_until(lambda: all(p.get_subscription_count() > 0 for p in pubs)
                              and all(s.get_publisher_count() > 0 for s in subs)
                              and len(rig.diag) == 2, args.timeout):
            raise HostileBenchError(f"the fuzzed depth_nodes did not start (logs: {rig.logs})")
        sent = dict.fromkeys(rig.procs, 0)
        t0 = time.monotonic()  # after start-up
        for i, case in enumerate(cases):
            ns = target[case.kind]
            before = {k: int(rig.diag[ns][k]) for k in COUNTERS}
            sec = i + 1
            info = case.info or (camera_info_fields(*case.size) if case.valid else {})
            if info:
                msg = _fill(CameraInfo(), info)
                msg.header.stamp = Time(sec=sec)
                info_pubs[ns].publish(msg)
            img = _fill(CompressedImage() if case.kind == "compressed" else Image(),
                        case.fields)
            img.header.stamp, img.header.frame_id = Time(sec=sec), "camera"
            pub = cmp_pub if case.kind == "compressed" else image_pub

            def resend(ns=ns, msg=msg if info else None, img=img, pub=pub) -> None:
                """Again, for an info that arrived after its image (topics are not ordered)."""
                if msg is not None:
                    info_pubs[ns].publish(msg)
                pub.publish(img)

            pub.publish(img)
            sent[ns] += 1
            verdict = _await_case(rig, outs[ns], ns, case, sec, before, args.case_timeout,
                                  resend)
            if verdict == "crash":
                faults["crashes"] += 1
                problems.append(f"{case.label}: node {rig.dead()} died")
                break
            for name, delta in verdict.items():
                if delta:
                    faults[name] += delta
                    problems.append(f"#{i} {case.label}: {name}")
    finally:
        wall = time.monotonic() - t0
        peaks = {ns: _rss_mb(p.pid, "VmHWM") for ns, p in rig.procs.items()}
        final = {ns: dict(rig.diag.get(ns, {})) for ns in rig.procs}
        codes = rig.close()
    faults["crashes"] += sum(1 for c in codes.values() if c not in (0, None))
    result = {"cases": len(cases), "wall_s": wall, **faults, "problems": problems[:20],
              "peak_rss_mb": peaks, "exit_codes": codes,
              "counters": {ns: {k: v.get(k) for k in COUNTERS} for ns, v in final.items()}}
    print(f"fuzz: {len(cases)} messages in {wall:.1f} s ({len(cases) / wall:.1f}/s): "
          + ", ".join(f"{k} {faults[k]}" for k in faults)
          + "; peak RSS " + ", ".join(f"{ns} {mb:.0f} MB" for ns, mb in peaks.items())
          + f"; exit codes {codes}")
    for ns, c in result["counters"].items():
        print(f"  {ns}: " + ", ".join(f"{k} {v}" for k, v in c.items()))
    for p in problems[:20]:
        print(f"  problem: {p}")
    return result


def _await_case(rig: _Rig, out: _Outputs, ns: str, case: FuzzCase, sec: int,
                before: dict[str, int], timeout: float,
                resend: Callable[[], None]) -> dict[str, int] | str:
    """Wait until the node accounted for the case; its fault counts (or "crash")."""
    def settled() -> bool:
        d = rig.diag[ns]
        c = {k: int(d[k]) for k in COUNTERS}
        done = c["received"] > before["received"] and c["received"] == sum(
            c[k] for k in ("processed", "dropped", "bad_input", "errors"))
        return done and (not case.valid or bool(out.get("depth", sec)))

    ok = rig.spin_until(settled, timeout)
    if ok and case.valid and case.info_ok and not out.get("depth/camera_info", sec):
        resend()  # its CameraInfo came after the image; now it is the latest one
        ok = rig.spin_until(lambda: bool(out.get("depth/camera_info", sec)), timeout)
    if rig.dead():
        return "crash"
    if not ok:
        return {"hangs": 1}
    c = {k: int(rig.diag[ns][k]) - before[k] for k in COUNTERS}
    depth = out.get("depth", sec)
    wrong = 0
    if case.valid:
        wrong += any((m.height, m.width, m.encoding) != (*case.size, "32FC1") for m in depth)
        infos = out.get("depth/camera_info", sec)
        if not case.info_ok:
            bad_p = np.asarray(case.info["p"], dtype=np.float64)
            used_bad = any(np.array_equal(np.asarray(m.p), bad_p, equal_nan=True) for m in infos)
            wrong += used_bad or bool("points" in out.by and out.get("points", sec) and not infos)
        misclassified = int(c["processed"] < 1 or c["bad_input"] > 0)
    else:
        wrong += bool(depth)
        misclassified = int(c["bad_input"] != 1)
    return {"wrong_outputs": int(wrong), "internal_errors": c["errors"],
            "misclassified": misclassified if not c["errors"] else 0, "dropped": c["dropped"]}


def run_soak(args: argparse.Namespace, rgb: np.ndarray) -> dict[str, Any]:
    """Publish `rgb` at a steady rate for args.soak seconds; per-window numbers."""
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo, Image, PointCloud2

    from depthnet_nano_ros.geometry.image_codec import array_to_image_fields

    rate = args.rate or 30.0
    window = max(5.0, args.soak / 10)
    rig = _Rig(args, {"/soak": {"diagnostics.period": 1.0,
                                "cloud.decimation": args.decimation}})
    sent: dict[tuple[int, int], float] = {}
    got: dict[tuple[int, int], float] = {}
    marks: list[tuple[float, list, float]] = []  # window start, frames sent in it, RSS MB
    try:
        n = rig.node
        image = _fill(Image(), array_to_image_fields(rgb, "rgb8"))
        info = _fill(CameraInfo(), camera_info_fields(*rgb.shape[:2]))
        image.header.frame_id = info.header.frame_id = "camera"
        image_pub = n.create_publisher(Image, "/soak/image", qos_profile_sensor_data)
        info_pub = n.create_publisher(CameraInfo, "/soak/camera_info", qos_profile_sensor_data)
        subs = [n.create_subscription(Image, "/soak/depth", lambda m: got.setdefault(
            (m.header.stamp.sec, m.header.stamp.nanosec), time.monotonic()),
            qos_profile_sensor_data)]
        if not args.no_points:
            subs.append(n.create_subscription(PointCloud2, "/soak/points", lambda m: None,
                                              qos_profile_sensor_data, raw=True))
        if not rig.spin_until(lambda: image_pub.get_subscription_count() > 0 and all(
                s.get_publisher_count() > 0 for s in subs) and rig.diag, args.timeout):
            raise HostileBenchError(f"the soaked depth_node did not start (log: {rig.logs})")
        pid = rig.procs["/soak"].pid
        t0 = time.monotonic()
        frames = int(args.soak * rate)
        w_start, w_sent = t0, []
        for i in range(frames + 1):
            due = t0 + i / rate
            if not rig.spin_until(lambda d=due: time.monotonic() >= d, 60):
                break  # the node died
            if time.monotonic() - w_start >= window or i == frames:
                marks.append((w_start - t0, w_sent, _rss_mb(pid)))
                w_start, w_sent = time.monotonic(), []
            if i == frames:
                break
            stamp = n.get_clock().now().to_msg()
            image.header.stamp = info.header.stamp = stamp
            info_pub.publish(info)
            image_pub.publish(image)
            key = (stamp.sec, stamp.nanosec)
            sent[key] = time.monotonic()
            w_sent.append(key)
        rig.spin_until(lambda: False, 1.0)  # collect the last frames' outputs
        counters = dict(rig.diag.get("/soak", {}))
    finally:
        dead = rig.dead()
        codes = rig.close()
    rows = [_window(t, keys, sent, got, rss) for t, keys, rss in marks]
    lat = [(got[k] - sent[k]) * 1e3 for k in got if k in sent]
    result = {"rate_hz": rate, "seconds": args.soak, "windows": rows, "sent": len(sent),
              "received": len(got), "crashed": bool(dead),
              "latency_ms_p50": float(np.percentile(lat, 50)) if lat else math.nan,
              "latency_ms_p99": float(np.percentile(lat, 99)) if lat else math.nan,
              "rss_growth_mb": rows[-1]["rss_mb"] - rows[0]["rss_mb"] if rows else math.nan,
              "counters": {k: counters.get(k) for k in COUNTERS}, "exit_codes": codes}
    print(f"soak: {args.soak:.0f} s at {rate:.1f} Hz, 1242x375-class frame "
          f"{rgb.shape[1]}x{rgb.shape[0]}; windows of {window:.0f} s")
    print("  t_s    sent  recv  drop%   p50_ms   p99_ms   rss_mb")
    for r in rows:
        print(f"  {r['t_s']:5.0f} {r['sent']:6d} {r['received']:5d} {r['drop_pct']:6.1f} "
              f"{r['p50_ms']:8.1f} {r['p99_ms']:8.1f} {r['rss_mb']:8.1f}")
    print(f"  total: sent {len(sent)}, received {len(got)}, latency p50 "
          f"{result['latency_ms_p50']:.1f} ms, p99 {result['latency_ms_p99']:.1f} ms, RSS growth "
          f"{result['rss_growth_mb']:+.1f} MB (first to last window), crashed {bool(dead)}, "
          f"node counters {result['counters']}")
    return result


def _window(t: float, keys: list, sent: dict, got: dict, rss: float) -> dict[str, float]:
    """Numbers of the frames sent in one window (received by now)."""
    lat = [(got[k] - sent[k]) * 1e3 for k in keys if k in got]
    return {"t_s": t, "sent": len(keys), "received": len(lat),
            "drop_pct": 100.0 * (1 - len(lat) / len(keys)) if keys else 0.0,
            "p50_ms": float(np.percentile(lat, 50)) if lat else math.nan,
            "p99_ms": float(np.percentile(lat, 99)) if lat else math.nan, "rss_mb": rss}
