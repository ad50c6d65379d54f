"""Where the installed depth_node is, for the benchmarks that start it in its own process."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from depthnet_nano_ros.errors import DepthNetNanoError


class BenchNodeError(DepthNetNanoError):
    """The benchmark could not run (node missing, no output)."""


def depth_node_executable() -> str:
    """The installed depth_node (next to this interpreter, else on PATH)."""
    exe = Path(sys.executable).with_name("depth_node")
    exe_path = str(exe) if exe.is_file() else shutil.which("depth_node")
    if exe_path is None:
        raise BenchNodeError("depth_node executable not found: run `make install` (or source "
                             "your ROS 2 workspace)")
    return exe_path
