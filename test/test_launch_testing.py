"""The launch_testing test of depth.launch.py (test/launch_tests/), run by `launch_test`.

launch_testing's own pytest plugin predates pytest 9 (disabled in pytest.ini), so the launch
test runs in its own process with a plain environment, as `launch_test FILE` on a ROS machine.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from ros2_cli_helpers import VENV, plain_env, requires_ros2_cli

LAUNCH_TEST = VENV / "bin" / "launch_test"
FILE = Path(__file__).resolve().parent / "launch_tests" / "launch_depth_node.py"


@requires_ros2_cli
def test_launch_testing_depth_node(tmp_path):
    proc = subprocess.run([str(LAUNCH_TEST), str(FILE), "--junit-xml",
                           str(tmp_path / "junit.xml")], env=plain_env(OMP_NUM_THREADS="1"),
                          capture_output=True, text=True, timeout=400)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    junit = (tmp_path / "junit.xml").read_text()
    assert 'failures="0"' in junit and 'errors="0"' in junit, junit
    assert "test_every_process_exited_cleanly" in junit, junit
    assert "test_ready_and_outputs_reach_a_best_effort_subscriber" in junit, junit
