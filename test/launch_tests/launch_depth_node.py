"""launch_testing test of depth.launch.py (run by test_launch_testing.py via `launch_test`).

Starts a camera process and the package's launch file (namespace `lt`), checks that depth_node
reports ready and that a best-effort subscriber in this process (default DDS environment)
receives full-size depth and the cloud, then that every process exited with code 0.
"""

import os
import sys
import time
import unittest

import launch_testing
import launch_testing.actions
import launch_testing.asserts
import rclpy
from ament_index_python.packages import get_package_share_directory
from launch.actions import ExecuteProcess, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image, PointCloud2

from launch import LaunchDescription

CAMERA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "camera_publisher.py")


def generate_test_description():
    """Camera + depth.launch.py; the tests start once both are launched."""
    camera = ExecuteProcess(cmd=[sys.executable, CAMERA, "/lt", "5"], output="screen")
    depth = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(
            get_package_share_directory("depthnet_nano_ros"), "launch", "depth.launch.py")),
        launch_arguments={"image": "/lt/image", "camera_info": "/lt/camera_info",
                          "namespace": "lt"}.items())
    return LaunchDescription([camera, depth, launch_testing.actions.ReadyToTest()]), {}


class TestDepthNode(unittest.TestCase):
    """While running."""

    def test_ready_and_outputs_reach_a_best_effort_subscriber(self, proc_output):
        proc_output.assertWaitFor("ready:", timeout=180)
        rclpy.init()
        node = rclpy.create_node("launch_test_probe")
        got = {"depth": [], "points": []}
        node.create_subscription(Image, "/lt/depth", got["depth"].append,
                                 qos_profile_sensor_data)
        node.create_subscription(PointCloud2, "/lt/points", got["points"].append,
                                 qos_profile_sensor_data)
        try:
            deadline = time.monotonic() + 90
            while (len(got["depth"]) < 2 or len(got["points"]) < 2) and \
                    time.monotonic() < deadline:
                rclpy.spin_once(node, timeout_sec=0.1)
        finally:
            node.destroy_node()
            rclpy.try_shutdown()
        self.assertGreaterEqual(len(got["depth"]), 2, "no depth on /lt/depth")
        self.assertGreaterEqual(len(got["points"]), 2, "no cloud on /lt/points")
        depth = got["depth"][-1]
        self.assertEqual((depth.encoding, depth.height, depth.width), ("32FC1", 375, 1242))
        self.assertEqual(got["points"][-1].width, 1242)


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):
    """After the launch is shut down."""

    def test_every_process_exited_cleanly(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info)
