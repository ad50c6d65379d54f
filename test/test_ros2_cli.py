"""The commands a user types, for real: `ros2 launch depthnet_nano_ros depth.launch.py` with its
arguments, then `ros2 topic list/echo/hz` and `ros2 param get/set` from separate processes with a
plain environment (no DDS profile), and `ros2 run depthnet_nano_ros depth_node`.

One launched node serves all the CLI checks (module fixture); a stand-alone camera process
(plain environment, reliable like most drivers) feeds it KITTI frames (synthetic ones when
../shared is absent). Needs the ros2 CLI in .venv (`make test` installs it from
../shared/ros2_tools; skipped with the reason otherwise).
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
import time

import pytest
import yaml
from ros2_cli_helpers import (
    CAMERA,
    KITTI_DRIVE,
    REPO,
    ROS2,
    Background,
    pid_alive,
    plain_env,
    requires_ros2_cli,
    ros2,
    ros2_until,
)

pytestmark = requires_ros2_cli

WIDTH = 1242
READY = r"ready: .*subscribed to "
IMAGE, INFO = "sensor_msgs/msg/Image", "sensor_msgs/msg/CameraInfo"
POINTS = "sensor_msgs/msg/PointCloud2"  # given, so echo needs no type lookup (discovery)
NODE_PID = r"\[depth_node-\d+\]: process started with pid \[(\d+)\]"


def _rviz2_installed() -> bool:
    return subprocess.run([str(ROS2), "pkg", "prefix", "rviz2"], env=plain_env(),
                          capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def camera(tmp_path_factory):
    """/cam/image + /cam/camera_info at 5 Hz from a plain-environment process."""
    drive = [str(KITTI_DRIVE)] if KITTI_DRIVE.is_dir() else []
    proc = Background([sys.executable, str(CAMERA), "/cam", "5", *drive],
                      tmp_path_factory.mktemp("camera") / "camera.log")
    yield proc
    proc.stop()
    proc.kill_session()


@pytest.fixture(scope="module")
def launched(camera, tmp_path_factory):
    """`ros2 launch` with remaps, params_file, a backend override, a namespace and rviz:=true
    (rviz2 is not installed here: it must be skipped with a warning)."""
    tmp = tmp_path_factory.mktemp("launch")
    params = yaml.safe_load((REPO / "config" / "depthnet_nano.yaml").read_text())
    params["/**"]["ros__parameters"]["cloud"]["decimation"] = 2
    # the camera is a plain-environment process publishing 1242x375 frames reliably: over UDP a
    # best-effort subscription loses most of them on a busy 2-core machine (README: set
    # qos.input.reliability: reliable for such a driver)
    params["/**"]["ros__parameters"]["qos"]["input"]["reliability"] = "reliable"
    (tmp / "params.yaml").write_text(yaml.safe_dump(params))
    rviz = [] if _rviz2_installed() else ["rviz:=true"]
    proc = Background([str(ROS2), "launch", "depthnet_nano_ros", "depth.launch.py",
                       "image:=/cam/image", "camera_info:=/cam/camera_info", "namespace:=ns",
                       f"params_file:={tmp / 'params.yaml'}", "backend:=onnxruntime", *rviz],
                      tmp / "launch.log", env=plain_env(OMP_NUM_THREADS="1"))
    try:
        proc.wait_for(READY, timeout=180)
        proc.rviz_skipped = bool(rviz)
        proc.node_pid = int(proc.wait_for(NODE_PID, timeout=5).group(1))
        yield proc
    finally:
        rc = proc.stop()
        proc.returncode_at_stop = rc
        subprocess.run([str(ROS2), "daemon", "stop"], env=plain_env(), capture_output=True,
                       timeout=60)
        proc.kill_session()


def test_ros2_run_starts_the_node_with_ros_args(camera, tmp_path):
    """`ros2 run depthnet_nano_ros depth_node --ros-args ...` (before the launched node)."""
    node = Background([str(ROS2), "run", "depthnet_nano_ros", "depth_node", "--ros-args",
                       "-r", "__ns:=/run", "-r", "image:=/cam/image",
                       "-r", "camera_info:=/cam/camera_info", "-p", "cloud.decimation:=8"],
                      tmp_path / "run.log", env=plain_env(OMP_NUM_THREADS="1"))
    try:
        node.wait_for(READY, timeout=180)
        width = ros2("topic", "echo", "--once", "--no-daemon", "--timeout", "60",
                     "/run/points", POINTS, "--field", "width", timeout=90)
        assert width.stdout.split()[:1] == [str(math.ceil(WIDTH / 8))], width
    finally:
        rc = node.stop()
        node.kill_session()
    assert rc == 0, node.log()[-3000:]


def test_launch_skips_missing_rviz_with_a_warning(launched):
    if not launched.rviz_skipped:
        pytest.skip("rviz2 is installed here: the launch would open it")
    assert "rviz:=true but rviz2 is not installed" in launched.log()
    assert pid_alive(launched.node_pid)


def test_topic_list_from_a_plain_shell(launched):
    wanted = {"/ns/depth", "/ns/depth/camera_info", "/ns/depth/colored", "/ns/points",
              "/diagnostics"}
    result = ros2_until(["topic", "list"], lambda r: wanted <= set(r.stdout.split()))
    assert wanted <= set(result.stdout.split()), result


@pytest.mark.parametrize("reliability", ["best_effort", "reliable"])
def test_default_environment_subscriber_gets_depth_and_points(launched, reliability):
    """Full-size 32FC1 depth and the decimated cloud reach a default-configured process."""
    echo = ["topic", "echo", "--once", "--no-daemon", "--timeout", "60",
            "--qos-reliability", reliability]
    depth = ros2(*echo, "/ns/depth", IMAGE, "--field", "encoding", timeout=90)
    assert depth.stdout.split()[:1] == ["32FC1"], depth
    width = ros2(*echo, "/ns/depth/camera_info", INFO, "--field", "width", timeout=90)
    assert width.stdout.split()[:1] == [str(WIDTH)], width
    points = ros2(*echo, "/ns/points", POINTS, "--field", "width", timeout=90)
    assert points.stdout.split()[:1] == [str(math.ceil(WIDTH / 2))], points  # decimation 2


def test_topic_hz_measures_the_depth_rate(launched, tmp_path):
    hz = Background([str(ROS2), "topic", "hz", "/ns/depth"], tmp_path / "hz.log")
    try:
        # a report over >= 4 intervals (the first one includes discovery)
        m = hz.wait_for(r"average rate: ([0-9.]+)\n[^\n]*window: ([4-9]|\d\d+)\b", timeout=90)
        rate = float(m.group(1))
    finally:
        hz.stop()
        hz.kill_session()
    # The camera runs at 5 Hz; its best-effort 1242x375 frames come from a process without the
    # large-data profile, so over UDP some are lost (docs/ros_node.md, "DDS"): on a busy CI
    # machine 0.36 Hz was measured. What counts here is that `ros2 topic hz` sees a rate at all.
    assert 0.05 < rate < 20.0, hz.log()


def test_param_get_and_set(launched):
    node = "/ns/depth_node"
    get = ros2_until(["param", "get", node, "cloud.decimation"],
                     lambda r: "Integer value is: 2" in r.stdout)
    assert "Integer value is: 2" in get.stdout, get  # from params_file
    backend = ros2("param", "get", node, "model.backend")
    assert "String value is: onnxruntime" in backend.stdout, backend  # backend:= override
    bad = ros2("param", "set", node, "cloud.decimation", "0")
    assert "Setting parameter failed: cloud.decimation=0" in bad.stderr, bad
    ok = ros2("param", "set", node, "cloud.decimation", "4")
    assert "Set parameter successful" in ok.stdout, ok
    deadline = time.monotonic() + 60
    while True:  # a frame computed after the change
        width = ros2("topic", "echo", "--once", "--no-daemon", "--timeout", "30",
                     "/ns/points", POINTS, "--field", "width", timeout=60)
        if width.stdout.split()[:1] == [str(math.ceil(WIDTH / 4))] or \
                time.monotonic() > deadline:
            break
    assert width.stdout.split()[:1] == [str(math.ceil(WIDTH / 4))], width


def test_launch_stops_cleanly_and_leaves_no_node(launched):
    """Ctrl-C on `ros2 launch`: exit 0 and depth_node gone (checked after teardown)."""
    pid = launched.node_pid
    rc = launched.stop()
    assert rc == 0, launched.log()[-3000:]
    deadline = time.monotonic() + 10
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not pid_alive(pid), f"depth_node (pid {pid}) outlived ros2 launch"


def test_launch_fails_when_the_node_dies(tmp_path):
    """A depth_node that cannot start (missing engine) makes `ros2 launch` exit non-zero."""
    missing = tmp_path / "missing.onnx"
    proc = subprocess.run([str(ROS2), "launch", "depthnet_nano_ros", "depth.launch.py",
                           f"engine:={missing}"], env=plain_env(), capture_output=True,
                          text=True, timeout=180)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert "depth_node exited with code 2" in out, out[-3000:]
    assert str(missing) in out, out[-3000:]  # the node's own reason


def test_launch_rejects_a_missing_dds_profile(tmp_path):
    proc = subprocess.run([str(ROS2), "launch", "depthnet_nano_ros", "depth.launch.py",
                           f"dds_profile:={tmp_path / 'none.xml'}"], env=plain_env(),
                          capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "none.xml does not exist" in out, out[-3000:]
    assert not re.search(NODE_PID, out), "depth_node must not start"
