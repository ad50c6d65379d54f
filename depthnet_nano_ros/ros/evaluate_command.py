"""`depthnet_nano evaluate BAG`: offline scoring (evaluation/), or --live against the node.

The ROS-free core owns offline evaluation and the shared flags; the live run (which needs
rclpy) is dispatched here, so evaluation/ never imports ros/.
"""

from __future__ import annotations

import argparse

from depthnet_nano_ros.evaluation import evaluate_command as offline


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of the evaluate command (shared by both modes)."""
    offline.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Evaluate offline (default) or, with --live, against a running depth node."""
    if not args.live:
        return offline.run(args)
    from depthnet_nano_ros.ros.live_evaluator import run_live

    settings = offline.settings_from(args)
    ground_truth, geometry = offline.ground_truth_from(args)
    return run_live(args, settings, ground_truth, geometry)
