"""Helpers for tests that talk to a real depth_node over DDS (real rclpy, no mocks).

* :class:`NodeProcess` runs the installed ``depth_node`` console script in its own process
  and always stops it (SIGINT, then SIGKILL) when the ``with`` block ends.
* :class:`RosHarness` owns a private rclpy context, a test node and an executor that the test
  spins in its own thread via :meth:`RosHarness.spin_until` (no background spinning thread).
* KITTI helpers build Image / CameraInfo messages from the real sample drive.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image as PILImage

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".venv"
DEPTH_NODE = VENV / "bin" / "depth_node"
FASTDDS_PROFILE = REPO / "config" / "fastdds_large_data.xml"
KITTI_SIZE = (375, 1242)

# Must be in the environment before the first participant of this process exists.
os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(FASTDDS_PROFILE))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("AMENT_PREFIX_PATH", str(VENV))

import rclpy  # noqa: E402  (after the DDS environment above)
from rclpy.context import Context  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402

BEST_EFFORT = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5,
                         reliability=ReliabilityPolicy.BEST_EFFORT)
RELIABLE = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                      reliability=ReliabilityPolicy.RELIABLE)


def ros_env(**extra: str) -> dict[str, str]:
    """Environment for a ROS child process: this test's domain, localhost, the DDS profile."""
    env = dict(os.environ)
    env.update({"FASTDDS_DEFAULT_PROFILES_FILE": str(FASTDDS_PROFILE),
                "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", "PYTHONUNBUFFERED": "1",
                "AMENT_PREFIX_PATH": os.environ.get("AMENT_PREFIX_PATH", str(VENV)),
                "RCUTILS_COLORIZED_OUTPUT": "0"})
    # One compute thread per node: robust timing on shared CI cores (OpenMP spin-waits
    # collapse when several processes oversubscribe two cores).
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("DEPTHNET_NANO_THREADS", "1")
    env.update(extra)
    return env


class NodeProcess:
    """`depth_node --ros-args ...` in a subprocess; output goes to `log_path`."""

    def __init__(self, log_path: Path, params_file: Path | None = None,
                 params: dict[str, Any] | None = None,
                 remaps: dict[str, str] | None = None, executable: Path = DEPTH_NODE) -> None:
        cmd = [str(executable), "--ros-args"]
        if params_file is not None:
            cmd += ["--params-file", str(params_file)]
        for k, v in (params or {}).items():
            value = str(v).lower() if isinstance(v, bool) else str(v)
            cmd += ["-p", f"{k}:={value}"]
        for src, dst in (remaps or {}).items():
            cmd += ["-r", f"{src}:={dst}"]
        self.cmd = cmd
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.returncode: int | None = None

    def __enter__(self) -> NodeProcess:
        self._log = open(self.log_path, "w")  # noqa: SIM115 (closed in __exit__)
        self.proc = subprocess.Popen(self.cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                     env=ros_env())
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def alive(self) -> bool:
        """True while the process runs."""
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGINT and wait (the node's clean shutdown); SIGKILL if it hangs. Returns the code."""
        if self.proc is None:
            return self.returncode
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGINT)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(10)
            self.returncode = self.proc.returncode
        finally:
            self.proc = None
            self._log.close()
        return self.returncode

    def log(self) -> str:
        """Everything the node printed so far."""
        return self.log_path.read_text(errors="replace")


class Collector:
    """Keeps every message of one subscription."""

    def __init__(self, harness: RosHarness, msg_type: Any, topic: str,
                 qos: QoSProfile = BEST_EFFORT) -> None:
        self.msgs: list[Any] = []
        self.sub = harness.node.create_subscription(msg_type, topic, self.msgs.append, qos)

    def by_stamp(self, stamp: Any) -> list[Any]:
        """Messages whose header stamp equals `stamp`."""
        return [m for m in self.msgs if m.header.stamp == stamp]


class RosHarness:
    """A test node in a private context; spin it with spin_until."""

    def __init__(self, name: str = "depth_test") -> None:
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def close(self) -> None:
        """Destroy node, executor and context."""
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)

    def __enter__(self) -> RosHarness:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def collect(self, msg_type: Any, topic: str, qos: QoSProfile = BEST_EFFORT) -> Collector:
        """Start collecting `topic`."""
        return Collector(self, msg_type, topic, qos)

    def spin_until(self, predicate: Callable[[], bool], timeout: float = 20.0,
                   every: tuple[float, Callable[[], None]] | None = None,
                   what: str = "condition", alive: NodeProcess | None = None) -> None:
        """Spin until `predicate()`; optionally call every[1] each every[0] s (re-publishing).

        Raises AssertionError naming `what` on timeout or if `alive` (a node process) exits.
        """
        deadline = time.monotonic() + timeout
        next_call = time.monotonic()
        while not predicate():
            now = time.monotonic()
            if now > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}")
            if alive is not None and not alive.alive():
                raise AssertionError(f"depth_node exited while waiting for {what}:\n"
                                     f"{alive.log()[-3000:]}")
            if every is not None and now >= next_call:
                every[1]()
                next_call = now + every[0]
            self.executor.spin_once(timeout_sec=0.05)

    def wait_matched(self, publishers: Iterable[Any] = (), subscriptions: Iterable[Any] = (),
                     timeout: float = 60.0, alive: NodeProcess | None = None) -> None:
        """Wait until every publisher has a subscriber and every subscription a publisher."""
        pubs, subs = list(publishers), list(subscriptions)
        self.spin_until(lambda: all(p.get_subscription_count() > 0 for p in pubs)
                        and all(s.get_publisher_count() > 0 for s in subs),
                        timeout=timeout, what="DDS matching with depth_node", alive=alive)

    def call(self, srv_type: Any, name: str, request: Any, timeout: float = 20.0) -> Any:
        """Call a service and return its response."""
        client = self.node.create_client(srv_type, name)
        try:
            if not client.wait_for_service(timeout_sec=timeout):
                raise AssertionError(f"service {name} not available after {timeout} s")
            future = client.call_async(request)
            self.spin_until(future.done, timeout, what=f"response of {name}")
            return future.result()
        finally:
            self.node.destroy_client(client)

    def stamp(self, i: int) -> Any:
        """A distinct, recognizable stamp for test frame `i`."""
        from builtin_interfaces.msg import Time

        return Time(sec=1_000 + i, nanosec=123)


def load_kitti_rgb(drive_dir: Path, frame: int = 0) -> np.ndarray:
    """KITTI image_02 frame as HxWx3 uint8 RGB (Pillow)."""
    path = drive_dir / "image_02" / "data" / f"{frame:010d}.png"
    return np.asarray(PILImage.open(path).convert("RGB"))


def kitti_p_rect_02(date_dir: Path) -> np.ndarray:
    """P_rect_02 (3x4) parsed from calib_cam_to_cam.txt."""
    for line in (date_dir / "calib_cam_to_cam.txt").read_text().splitlines():
        if line.startswith("P_rect_02:"):
            return np.array([float(x) for x in line.split(":", 1)[1].split()]).reshape(3, 4)
    raise AssertionError(f"no P_rect_02 in {date_dir}")


def camera_info_msg(p: np.ndarray, size: tuple[int, int] = KITTI_SIZE,
                    frame_id: str = "camera_color_left", stamp: Any = None) -> CameraInfo:
    """CameraInfo of a rectified camera with projection `p` (3x4)."""
    msg = CameraInfo(height=size[0], width=size[1], distortion_model="plumb_bob")
    msg.header.frame_id = frame_id
    if stamp is not None:
        msg.header.stamp = stamp
    msg.d = [0.0] * 5
    msg.k = np.asarray(p, dtype=np.float64)[:, :3].reshape(-1).tolist()
    msg.r = np.eye(3).reshape(-1).tolist()
    msg.p = np.asarray(p, dtype=np.float64).reshape(-1).tolist()
    return msg


def image_msg(rgb: np.ndarray, encoding: str = "rgb8", frame_id: str = "camera_color_left",
              stamp: Any = None) -> Image:
    """sensor_msgs/Image from HxWxC uint8 data already in `encoding`'s channel order."""
    h, w = rgb.shape[:2]
    msg = Image(height=h, width=w, encoding=encoding, is_bigendian=0,
                step=int(rgb.strides[0]) if rgb.flags.c_contiguous else rgb[0].nbytes)
    msg.header.frame_id = frame_id
    if stamp is not None:
        msg.header.stamp = stamp
    msg.data = np.ascontiguousarray(rgb).tobytes()
    return msg


def diagnostics_values(msg: Any, name_part: str = "depth estimation") -> dict[str, str] | None:
    """key -> value of the depth node's DiagnosticStatus in a DiagnosticArray, or None."""
    for status in msg.status:
        if name_part in status.name:
            values = {kv.key: kv.value for kv in status.values}
            values["__message__"] = status.message
            values["__level__"] = str(int.from_bytes(status.level, "little")
                                      if isinstance(status.level, bytes) else status.level)
            return values
    return None
