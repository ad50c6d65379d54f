"""`ros2 launch depthnet_nano_ros depth.launch.py cameras:=front,left lifecycle:=true` for real:
one managed depth_node per camera in its own namespace, brought up with `ros2 lifecycle set`
from a plain shell, each publishing depth for its own camera; and the launch refuses an
absolute image topic with several cameras. Needs the ros2 CLI (skipped with the reason)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from ros2_cli_helpers import (
    CAMERA,
    KITTI_DRIVE,
    REPO,
    ROS2,
    Background,
    plain_env,
    requires_ros2_cli,
    ros2,
    ros2_until,
)

pytestmark = requires_ros2_cli

WAITING = "waiting for a lifecycle manager"
IMAGE = "sensor_msgs/msg/Image"


@pytest.fixture(scope="module")
def cameras(tmp_path_factory):
    """/robot/front/image and /robot/left/image (+ camera_info) at 2 Hz, plain environment."""
    tmp = tmp_path_factory.mktemp("cams")
    drive = [str(KITTI_DRIVE)] if KITTI_DRIVE.is_dir() else []
    procs = [Background([sys.executable, str(CAMERA), f"/robot/{c}", "2", *drive],
                        tmp / f"{c}.log") for c in ("front", "left")]
    yield procs
    for p in procs:
        p.stop()
        p.kill_session()


def test_two_cameras_two_managed_nodes(cameras, tmp_path):
    params = yaml.safe_load((REPO / "config" / "depthnet_nano.yaml").read_text())
    node_params = params["/**"]["ros__parameters"]
    # reliable cameras in a plain environment: a best-effort input loses most 1242x375 frames
    # over UDP on a busy 2-core machine; one inference thread per node (two nodes, two cores)
    node_params["qos"]["input"]["reliability"] = "reliable"
    node_params["model"]["cpu_threads"] = 1
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    launch = Background([str(ROS2), "launch", "depthnet_nano_ros", "depth.launch.py",
                         "namespace:=robot", "cameras:=front,left", "lifecycle:=true",
                         "backend:=onnxruntime", f"params_file:={tmp_path / 'params.yaml'}"],
                        tmp_path / "launch.log", env=plain_env(OMP_NUM_THREADS="1"))
    try:
        launch.wait_for(f"(?s){WAITING}.*{WAITING}", timeout=120)  # both nodes are up
        nodes = ros2_until(["node", "list"], lambda r: {"/robot/front/depth_node",
                                                         "/robot/left/depth_node"}
                           <= set(r.stdout.split()))
        assert {"/robot/front/depth_node", "/robot/left/depth_node"} <= set(nodes.stdout.split())
        for node in ("/robot/front/depth_node", "/robot/left/depth_node"):
            state = ros2_until(["lifecycle", "get", node], lambda r: "unconfigured" in r.stdout)
            assert "unconfigured" in state.stdout, state
        for transition in ("configure", "activate"):
            r = ros2("lifecycle", "set", "/robot/front/depth_node", transition, timeout=120)
            assert "Transitioning successful" in r.stdout, r
        echo = ["topic", "echo", "--once", "--no-daemon", "--timeout", "60", "--field"]
        height = ros2(*echo, "height", "/robot/front/depth", IMAGE, timeout=90)
        assert height.stdout.split()[:1] == ["375"], height
        topics = set(ros2("topic", "list").stdout.split())
        assert "/robot/left/depth" not in topics, topics  # left is still unconfigured
        for transition in ("configure", "activate"):
            r = ros2("lifecycle", "set", "/robot/left/depth_node", transition, timeout=120)
            assert "Transitioning successful" in r.stdout, r
        height = ros2(*echo, "height", "/robot/left/depth", IMAGE, timeout=90)
        assert height.stdout.split()[:1] == ["375"], height
        log = launch.log()
        for camera in ("front", "left"):
            assert f"subscribed to /robot/{camera}/image" in log, log[-3000:]
    finally:
        rc = launch.stop()
        subprocess.run([str(ROS2), "daemon", "stop"], env=plain_env(), capture_output=True,
                       timeout=60)
        launch.kill_session()
    assert rc == 0, launch.log()[-3000:]
    assert "Traceback" not in launch.log(), launch.log()[-3000:]


def test_several_cameras_refuse_an_absolute_image_topic():
    proc = subprocess.run([str(ROS2), "launch", "depthnet_nano_ros", "depth.launch.py",
                           "cameras:=front,left", "image:=/cam/image"], env=plain_env(),
                          capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert "image:=/cam/image: an absolute name makes every node read the same topic" in out, (
        out[-3000:])
    assert "process started" not in out, "no depth_node may start"
