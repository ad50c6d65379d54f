"""Helpers for the tests that drive the real `ros2` command (launch, run, topic, param).

Every `ros2` process gets a *plain* environment, as a user's second terminal has: PATH with the
venv's bin, AMENT_PREFIX_PATH and this test session's ROS_DOMAIN_ID (isolation from other test
sessions on the machine), and no DDS variables (no FASTDDS_DEFAULT_PROFILES_FILE, no
FASTDDS_BUILTIN_TRANSPORTS, no ROS_AUTOMATIC_DISCOVERY_RANGE).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".venv"
ROS2 = VENV / "bin" / "ros2"
CAMERA = Path(__file__).resolve().parent / "camera_publisher.py"
#: real KITTI frames for the camera publisher (it falls back to a synthetic frame without them)
KITTI_DRIVE = REPO.parent / "shared/data/kitti_sample/2011_09_26/2011_09_26_drive_0005_sync"
DDS_VARIABLES = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTDDS_BUILTIN_TRANSPORTS",
                 "ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_STATIC_PEERS", "RMW_IMPLEMENTATION")

requires_ros2_cli = pytest.mark.skipif(
    not ROS2.is_file(),
    reason=f"{ROS2} is missing: `make test` installs the ros2 CLI and launch from "
           "../shared/ros2_tools (absent here); or run ../shared/ros2_tools/install.sh .venv")


def plain_env(**extra: str) -> dict[str, str]:
    """A default-configured ROS 2 shell: venv PATH, ament prefix, the session's domain."""
    env = {"PATH": f"{VENV / 'bin'}:/usr/local/bin:/usr/bin:/bin",
           "HOME": os.environ.get("HOME", "/tmp"), "AMENT_PREFIX_PATH": str(VENV),
           "ROS_DOMAIN_ID": os.environ["ROS_DOMAIN_ID"], "PYTHONUNBUFFERED": "1",
           "RCUTILS_COLORIZED_OUTPUT": "0", "LANG": "C.UTF-8"}
    env.update(extra)
    assert not set(DDS_VARIABLES) & set(env), "plain_env must not carry DDS settings"
    return env


def ros2(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
    """Run `ros2 ARGS...` to completion in a plain environment."""
    return subprocess.run([str(ROS2), *args], env=plain_env(), capture_output=True,
                          text=True, timeout=timeout)


def ros2_until(args: list[str], ok, timeout: float = 60.0) -> subprocess.CompletedProcess:
    """Rerun a short `ros2` command until ok(result) (DDS discovery takes a moment)."""
    deadline = time.monotonic() + timeout
    while True:
        result = ros2(*args, timeout=max(10.0, deadline - time.monotonic()))
        if ok(result) or time.monotonic() > deadline:
            return result


class Background:
    """A long-running process in its own session; output in `log_path`; always stopped."""

    def __init__(self, cmd: list[str], log_path: Path, env: dict[str, str] | None = None):
        self.cmd, self.log_path = cmd, log_path
        self._log = open(log_path, "w")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                     env=env or plain_env(), start_new_session=True)

    def log(self) -> str:
        """Everything it printed so far."""
        return self.log_path.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 120.0) -> re.Match:
        """Wait until the log matches `pattern`; fail with the log if it exits or times out."""
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(pattern, self.log())
            if m:
                return m
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.cmd[:3]} exited with {self.proc.returncode} "
                                     f"before printing {pattern!r}:\n{self.log()[-4000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {pattern!r} within {timeout} s:\n{self.log()[-4000:]}")
            time.sleep(0.2)

    def stop(self, timeout: float = 30.0) -> int:
        """Ctrl-C (SIGINT to the process group, as a terminal sends it), then SIGKILL it."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._log.close()
        return self.proc.returncode

    def kill_session(self) -> None:
        """SIGKILL anything left in its process session (orphans included)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def pid_alive(pid: int) -> bool:
    """True while process `pid` exists (and is not a zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
