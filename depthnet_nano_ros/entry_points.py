"""Console entry points installed as `depthnet_nano` and `depth_node`."""

from __future__ import annotations


def main_depthnet_nano() -> int:
    """`depthnet_nano` CLI."""
    from depthnet_nano_ros.cli import main

    return main()


def main_depth_node() -> int:
    """`depth_node`: the ROS 2 depth node (SIGINT / SIGTERM handled from here on)."""
    from depthnet_nano_ros.ros.stop_signals import STOP, StopRequested

    STOP.install()
    try:
        from depthnet_nano_ros.ros.depth_node import main

        STOP.check("imports")
    except StopRequested:
        return 0
    return main() or 0
