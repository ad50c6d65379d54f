"""The generated DepthMetrics message imports and round-trips through real rclpy pub/sub."""

from __future__ import annotations

import time

import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy (ROS 2 Kilted wheels) is not installed")
from depthnet_nano_ros.msg import DepthMetrics  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402

FIELDS = ("abs_rel", "sq_rel", "rmse", "rmse_log", "log10", "a1", "a2", "a3", "scale")


def test_fields_and_types() -> None:
    types = DepthMetrics.get_fields_and_field_types()
    assert types["header"] == "std_msgs/Header"
    assert all(types[f] == "float" for f in FIELDS)
    assert types["valid_points"] == "uint32"


def test_round_trip_through_rclpy_pub_sub() -> None:
    context = rclpy.Context()
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)
    pub_node = rclpy.create_node("metrics_pub", context=context)
    sub_node = rclpy.create_node("metrics_sub", context=context)
    try:
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        received: list[DepthMetrics] = []
        pub = pub_node.create_publisher(DepthMetrics, "metrics_roundtrip", qos)
        sub_node.create_subscription(DepthMetrics, "metrics_roundtrip", received.append, qos)
        executor.add_node(pub_node)
        executor.add_node(sub_node)
        deadline = time.monotonic() + 15.0
        while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.1)
        assert pub.get_subscription_count() == 1, "subscriber never matched"
        msg = DepthMetrics()
        msg.header.frame_id = "camera_color_left"
        msg.header.stamp.sec, msg.header.stamp.nanosec = 1317046453, 123456789
        for i, name in enumerate(FIELDS):
            setattr(msg, name, 0.125 * (i + 1))
        msg.valid_points = 20512
        pub.publish(msg)
        while not received and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.1)
        assert received, "no DepthMetrics message arrived within 15 s"
        got = received[0]
        assert got.header.frame_id == "camera_color_left"
        assert (got.header.stamp.sec, got.header.stamp.nanosec) == (1317046453, 123456789)
        assert [getattr(got, f) for f in FIELDS] == [0.125 * (i + 1) for i in range(len(FIELDS))]
        assert got.valid_points == 20512
    finally:
        executor.shutdown()
        pub_node.destroy_node()
        sub_node.destroy_node()
        rclpy.shutdown(context=context)
