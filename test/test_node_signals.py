"""SIGINT / SIGTERM at any moment of depth_node's start-up: a clean exit 0, never a traceback."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest
from ros_helpers import DEPTH_NODE, ros_env

#: Seconds after process start (imports, rclpy.init, model loading, the first spin).
OFFSETS = (0.3, 0.9, 1.6, 2.4, 4.0)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_stop_signal_during_start_up_exits_cleanly(tmp_path, sig):
    during_start = 0
    for offset in OFFSETS:
        log = tmp_path / f"node_{sig.name}_{offset}.log"
        with open(log, "w") as out:
            proc = subprocess.Popen([str(DEPTH_NODE), "--ros-args", "-p", "model.backend:=torch",
                                     "-r", f"__node:=depth_node_sig_{sig.name.lower()}"],
                                    stdout=out, stderr=subprocess.STDOUT, env=ros_env())
            t0 = time.monotonic()
            try:
                proc.wait(offset)  # it must not exit by itself: TimeoutExpired is expected
                raise AssertionError(f"depth_node exited before the signal:\n{log.read_text()}")
            except subprocess.TimeoutExpired:
                pass
            proc.send_signal(sig)
            sent_at = time.monotonic() - t0
            try:
                rc = proc.wait(60)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(10)
        text = log.read_text(errors="replace")
        assert rc == 0, f"{sig.name} at {sent_at:.2f} s: exit {rc}\n{text[-3000:]}"
        assert "Traceback" not in text and "Error" not in text, f"at {sent_at:.2f} s:\n{text}"
        during_start += "during start-up" in text
    assert during_start >= 2, "no signal arrived during start-up: the offsets are too late here"
