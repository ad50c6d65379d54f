#!/usr/bin/env python3
"""Measure which Fast DDS configuration of depth_node delivers full-size depth and clouds to
processes that use a *default* environment (docs/ros_node.md, "DDS: large messages").

For each node configuration (environment of depth_node only) and input QoS, it starts
depth_node, then one external process with a plain environment (no Fast DDS variables) that
publishes N KITTI 1242x375 rgb8 frames (reliable publisher, like most camera drivers) with
their CameraInfo at --hz, and counts what arrives on /depth and /points with a best-effort
and a reliable subscription, plus the node's own `received` count from /diagnostics.

    .venv/bin/python scripts/dds_transport_check.py [--frames 27] [--hz 5] [--only NAME]

Prints one Markdown table row per configuration. Needs ../shared/data/kitti_sample.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV = Path(sys.prefix)
DRIVE = REPO.parent / "shared/data/kitti_sample/2011_09_26/2011_09_26_drive_0005_sync"
PROFILE = REPO / "config" / "fastdds_large_data.xml"

#: name -> extra environment of depth_node (the external process never gets any)
CONFIGS = {
    "default": {},
    "LARGE_DATA": {"FASTDDS_BUILTIN_TRANSPORTS": "LARGE_DATA"},
    "profile (SHM 32 MB + UDPv4)": {"FASTDDS_DEFAULT_PROFILES_FILE": str(PROFILE)},
}

EXTERNAL = r'''
import json, sys, time
import numpy as np
from PIL import Image as PILImage
import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy, HistoryPolicy
from sensor_msgs.msg import Image, CameraInfo, PointCloud2
from diagnostic_msgs.msg import DiagnosticArray
drive, frames, hz, wait = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
rclpy.init()
node = rclpy.create_node("dds_check")
rel = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE)
be = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5,
                reliability=ReliabilityPolicy.BEST_EFFORT)
img_pub = node.create_publisher(Image, "/cam/image", rel)
info_pub = node.create_publisher(CameraInfo, "/cam/camera_info", rel)
got = {"depth_be": set(), "depth_rel": set(), "points_be": set(), "points_rel": set()}
diag = {}
def keep(key):
    return lambda m: got[key].add(m.header.stamp.sec)
for topic, t in (("depth", Image), ("points", PointCloud2)):
    node.create_subscription(t, "/" + topic, keep(topic + "_be"), be)
    node.create_subscription(t, "/" + topic, keep(topic + "_rel"), rel)
def on_diag(m):
    for s in m.status:
        if "depth estimation" in s.name:
            diag.update({kv.key: kv.value for kv in s.values})
node.create_subscription(DiagnosticArray, "/diagnostics", on_diag, rel)
def spin(seconds, until=lambda: False):
    end = time.monotonic() + seconds
    while time.monotonic() < end and not until():
        rclpy.spin_once(node, timeout_sec=0.02)
spin(60, lambda: img_pub.get_subscription_count() > 0 and diag)
if img_pub.get_subscription_count() == 0:
    print(json.dumps({"error": "depth_node never subscribed /cam/image"})); sys.exit(0)
rgbs = [np.asarray(PILImage.open(f"{drive}/image_02/data/{i:010d}.png").convert("RGB"))
        for i in range(10)]
h, w = rgbs[0].shape[:2]
p = [721.5377, 0.0, 609.5593, 44.85728, 0.0, 721.5377, 172.854, 0.2163791,
     0.0, 0.0, 1.0, 0.002745884]
received0 = int(diag.get("received", 0))
spin(3)  # let /points and /depth subscriptions match
t0 = time.monotonic()
for i in range(frames):
    stamp = (1000 + i, 0)
    info = CameraInfo(height=h, width=w, distortion_model="plumb_bob", p=p,
                      k=[p[0], 0.0, p[2], 0.0, p[5], p[6], 0.0, 0.0, 1.0])
    info.header.frame_id = "camera_color_left"
    info.header.stamp.sec = stamp[0]
    msg = Image(height=h, width=w, encoding="rgb8", step=w * 3)
    msg.header = info.header
    msg.data = rgbs[i % 10].tobytes()
    info_pub.publish(info)
    img_pub.publish(msg)
    spin(t0 + (i + 1) / hz - time.monotonic())
spin(wait)
out = {k: len(v) for k, v in got.items()}
out["node_received"] = int(diag.get("received", 0)) - received0
out["node_dropped"] = diag.get("dropped")
out["sent"] = frames
print(json.dumps(out))
node.destroy_node()
rclpy.try_shutdown()
'''


def plain_env() -> dict[str, str]:
    """A default ROS environment: PATH, the venv's ament prefix, a private domain."""
    keep = ("PATH", "HOME", "LANG", "ROS_DOMAIN_ID", "TMPDIR")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env["AMENT_PREFIX_PATH"] = str(VENV)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_one(name: str, extra: dict[str, str], input_qos: str, args: argparse.Namespace,
            tmp: Path) -> dict:
    """depth_node with `extra` env + the plain external publisher/subscriber."""
    env = plain_env() | extra | {"OMP_NUM_THREADS": "1"}
    cmd = [str(VENV / "bin" / "depth_node"), "--ros-args",
           "-p", f"qos.input.reliability:={input_qos}",
           "-r", "image:=/cam/image", "-r", "camera_info:=/cam/camera_info"]
    log = tmp / f"node-{len(list(tmp.iterdir()))}.log"
    with open(log, "w") as fh:
        node = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.monotonic() + 120
            while "ready:" not in log.read_text() and time.monotonic() < deadline:
                if node.poll() is not None:
                    raise SystemExit(f"depth_node died: {log.read_text()[-2000:]}")
                time.sleep(0.5)
            ext = subprocess.run([str(VENV / "bin" / "python"), "-c", EXTERNAL, str(DRIVE),
                                  str(args.frames), str(args.hz), "8"], env=plain_env(),
                                 capture_output=True, text=True, timeout=300)
        finally:
            node.send_signal(2)
            node.wait(30)
    lines = [ln for ln in ext.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise SystemExit(f"external process failed:\n{ext.stderr[-3000:]}")
    return json.loads(lines[-1])


def main() -> int:
    """Run every configuration and print the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=27)
    p.add_argument("--hz", type=float, default=5.0)
    p.add_argument("--only", help="run only the configuration with this name")
    args = p.parse_args()
    if not DRIVE.is_dir():
        print(f"dds_transport_check: error: KITTI sample not found at {DRIVE}", file=sys.stderr)
        return 2
    print("| depth_node environment | input QoS | sent | node received | /depth BE | "
          "/depth rel | /points BE | /points rel |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra in CONFIGS.items():
            if args.only and args.only != name:
                continue
            for input_qos in ("best_effort", "reliable"):
                r = run_one(name, extra, input_qos, args, Path(tmp))
                if "error" in r:
                    print(f"| {name} | {input_qos} | {r['error']} |||||", flush=True)
                    continue
                print(f"| {name} | {input_qos} | {r['sent']} | {r['node_received']} | "
                      f"{r['depth_be']} | {r['depth_rel']} | {r['points_be']} | "
                      f"{r['points_rel']} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
