"""depth_node as a managed (lifecycle) node, in its own process, driven through its lifecycle
services with real rclpy: configure loads the model, activate publishes, deactivate stops,
cleanup frees it; and a node that fails to configure stays unconfigured with the reason."""

from __future__ import annotations

import time

import numpy as np
import pytest
from ros_helpers import KITTI_SIZE, RELIABLE, NodeProcess, RosHarness, camera_info_msg, image_msg

from depthnet_nano_ros.model.focal import KITTI_FX_PX

FRAME = "camera_color_left"
NS = "/lc"
P = np.array([[KITTI_FX_PX, 0, 609.5593, 0], [0, KITTI_FX_PX, 172.854, 0], [0, 0, 1.0, 0]])


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    import torch

    from depthnet_nano_ros.model.checkpoint import save_checkpoint
    from depthnet_nano_ros.model.depthnet_nano import DepthNetNano

    torch.manual_seed(0)
    return save_checkpoint(tmp_path_factory.mktemp("lc") / "m.pt", DepthNetNano(),
                           input_size=(64, 224))


class Lifecycle:
    """Clients of a lifecycle node's change_state / get_state services."""

    def __init__(self, h: RosHarness, node: str) -> None:
        from lifecycle_msgs.srv import ChangeState, GetState

        self.h = h
        self.change = h.node.create_client(ChangeState, f"{node}/change_state")
        self.get = h.node.create_client(GetState, f"{node}/get_state")
        h.spin_until(lambda: self.change.service_is_ready() and self.get.service_is_ready(),
                     timeout=30, what=f"{node}'s lifecycle services")

    def _call(self, client, request, timeout: float = 120.0):
        future = client.call_async(request)
        self.h.spin_until(future.done, timeout=timeout, what=f"{client.srv_name}")
        return future.result()

    def state(self) -> str:
        from lifecycle_msgs.srv import GetState

        return self._call(self.get, GetState.Request()).current_state.label

    def transition(self, label: str) -> bool:
        from lifecycle_msgs.msg import Transition
        from lifecycle_msgs.srv import ChangeState

        ids = {"configure": Transition.TRANSITION_CONFIGURE,
               "activate": Transition.TRANSITION_ACTIVATE,
               "deactivate": Transition.TRANSITION_DEACTIVATE,
               "cleanup": Transition.TRANSITION_CLEANUP}
        return self._call(self.change, ChangeState.Request(
            transition=Transition(id=ids[label]))).success


def _depth_within(h: RosHarness, pubs, depth, seconds: float) -> bool:
    """Publish a KITTI-sized frame every 0.5 s for `seconds`; True once a depth image arrived."""
    image_pub, info_pub = pubs
    rgb = np.zeros((*KITTI_SIZE, 3), np.uint8)
    rgb[KITTI_SIZE[0] // 2:] = 90
    n = len(depth.msgs)

    def publish() -> None:
        stamp = h.node.get_clock().now().to_msg()
        info_pub.publish(camera_info_msg(P, KITTI_SIZE, FRAME, stamp))
        image_pub.publish(image_msg(rgb, "rgb8", FRAME, stamp))

    try:
        h.spin_until(lambda: len(depth.msgs) > n, timeout=seconds, every=(0.5, publish))
    except AssertionError:
        return False
    return True


def test_configure_activate_deactivate_cleanup(checkpoint, tmp_path):
    from sensor_msgs.msg import CameraInfo, Image

    with RosHarness("lifecycle_test") as h, NodeProcess(
            tmp_path / "node.log", params={"lifecycle": True, "model.checkpoint": checkpoint,
                                           "model.backend": "torch"},
            remaps={"__ns": NS}) as node:
        lc = Lifecycle(h, f"{NS}/depth_node")
        assert lc.state() == "unconfigured"
        assert h.node.count_publishers(f"{NS}/depth") == 0  # no topics before configure
        pubs = (h.node.create_publisher(Image, f"{NS}/image", RELIABLE),
                h.node.create_publisher(CameraInfo, f"{NS}/camera_info", RELIABLE))
        depth = h.collect(Image, f"{NS}/depth", RELIABLE)

        assert lc.transition("configure") and lc.state() == "inactive"
        h.wait_matched(list(pubs), [depth.sub], alive=node)
        assert not _depth_within(h, pubs, depth, 4.0), "an inactive node published depth"

        assert lc.transition("activate") and lc.state() == "active"
        assert _depth_within(h, pubs, depth, 60.0), node.log()[-2000:]
        assert (depth.msgs[-1].height, depth.msgs[-1].width) == KITTI_SIZE

        assert lc.transition("deactivate") and lc.state() == "inactive"
        deadline = time.monotonic() + 5  # a frame in flight at deactivation may still land
        h.spin_until(lambda: time.monotonic() > deadline, timeout=10)
        assert not _depth_within(h, pubs, depth, 4.0), "a deactivated node published depth"

        assert lc.transition("cleanup") and lc.state() == "unconfigured"
        h.spin_until(lambda: h.node.count_publishers(f"{NS}/depth") == 0, timeout=20,
                     what="cleanup to remove the depth publisher")
        assert lc.transition("configure") and lc.transition("activate")  # again, same process
        assert _depth_within(h, pubs, depth, 60.0), node.log()[-2000:]
        assert node.alive()
    assert node.returncode == 0, node.log()[-3000:]
    log = node.log()
    assert "waiting for a lifecycle manager" in log and "cleaned up" in log
    assert "Traceback" not in log, log[-3000:]


def test_a_failed_configure_names_the_reason_and_stays_unconfigured(tmp_path):
    missing = tmp_path / "missing.onnx"
    with RosHarness("lifecycle_fail_test") as h, NodeProcess(
            tmp_path / "node.log", params={"lifecycle": True, "model.engine": missing},
            remaps={"__ns": NS + "f"}) as node:
        lc = Lifecycle(h, f"{NS}f/depth_node")
        assert not lc.transition("configure")
        assert lc.state() == "unconfigured" and node.alive()
    log = node.log()
    assert "configure failed" in log and str(missing) in log, log[-3000:]
    assert node.returncode == 0 and "Traceback" not in log, log[-3000:]
