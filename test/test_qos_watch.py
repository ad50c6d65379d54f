"""QoS mismatches and a silent input are never silent: depth_node in its own process, real DDS."""

from __future__ import annotations

import pytest
from ros_helpers import BEST_EFFORT, RELIABLE, NodeProcess, RosHarness, diagnostics_values

NS = "/qos_c"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    import torch

    from depthnet_nano_ros.model.checkpoint import save_checkpoint
    from depthnet_nano_ros.model.depthnet_nano import DepthNetNano

    torch.manual_seed(0)
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "m.pt", DepthNetNano(),
                           input_size=(96, 320))


def test_incompatible_peers_and_silence_are_reported(tmp_path, checkpoint):
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image

    params = {"model.checkpoint": checkpoint, "model.backend": "torch",
              "qos.input.reliability": "reliable", "qos.output.reliability": "best_effort",
              "diagnostics.input_timeout": 1.0, "diagnostics.period": 0.5,
              "diagnostics.warn_throttle": 0.5}
    with RosHarness("qos_watch_test") as h, NodeProcess(
            tmp_path / "node.log", params=params, remaps={"__ns": NS}) as node:
        diag = h.collect(DiagnosticArray, "/diagnostics", RELIABLE)

        def latest() -> dict:
            for m in reversed(diag.msgs):
                v = diagnostics_values(m, f"{NS}/depth_node")
                if v:
                    return v
            return {}

        def logged(words: str, what: str) -> None:
            h.spin_until(lambda: words in node.log(), 60, what=what, alive=node)

        # 1. Nobody publishes images: one warning naming the missing publisher.
        logged(f"no publisher matched on {NS}/image for", "the no-publisher warning")
        assert node.log().count("no publisher matched") == 1
        # 2. A best-effort camera against the node's reliable subscription.
        cam = h.node.create_publisher(Image, f"{NS}/image", BEST_EFFORT)
        logged("qos.input.reliability:=best_effort", "the input QoS mismatch warning")
        line = next(x for x in node.log().splitlines() if "QoS mismatch on /qos_c/image" in x)
        assert "(reliability)" in line and "offers best_effort/volatile" in line, line
        assert "this node uses reliable/volatile" in line, line
        # 3. A reliable viewer of the node's best-effort depth.
        viewer = h.node.create_subscription(Image, f"{NS}/depth", lambda m: None, RELIABLE)
        logged("qos.output.reliability:=reliable", "the output QoS mismatch warning")
        line = next(x for x in node.log().splitlines() if f"QoS mismatch on {NS}/depth " in x)
        assert "requests reliable/volatile" in line and "uses best_effort/volatile" in line, line
        h.spin_until(lambda: int(latest().get("qos_incompatible", 0)) >= 2, 30,
                     what="qos_incompatible on /diagnostics", alive=node)
        v = latest()
        assert v["__level__"] == "1" and "QoS mismatch" in v["__message__"], v  # WARN
        # 4. A compatible publisher that never sends: the matched-but-silent warning.
        h.node.destroy_publisher(cam)
        ok_cam = h.node.create_publisher(Image, f"{NS}/image", RELIABLE)
        logged("1 publisher(s) matched on /qos_c/image but no image", "the silent warning")
        h.spin_until(lambda: "publisher(s) matched" in latest().get("input", ""), 30,
                     what="the input state on /diagnostics", alive=node)
        h.node.destroy_publisher(ok_cam)
        h.node.destroy_subscription(viewer)
        assert node.stop() == 0, node.log()[-3000:]
    assert "Traceback" not in node.log()
