"""The demo sets up its own environment: `python -m depthnet_nano_ros.demo --help` (as
docs/demo.md shows it) and its file lookups work without AMENT_PREFIX_PATH."""

from __future__ import annotations

import os
import subprocess
import sys


def _env_without_ament() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "AMENT_PREFIX_PATH"}
    env["PYTHONPATH"] = ""
    return env


def test_demo_help_without_ament_prefix_path():
    proc = subprocess.run([sys.executable, "-m", "depthnet_nano_ros.demo", "--help"],
                          env=_env_without_ament(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "usage: python -m depthnet_nano_ros.demo" in proc.stdout
    assert "default 1.0" in proc.stdout  # playback at the recorded rate
    assert "Traceback" not in proc.stderr


def test_demo_finds_the_installed_files_without_ament_prefix_path():
    code = ("from depthnet_nano_ros.demo import run as demo; "
            "print(demo.share_file('config', 'depthnet_nano.yaml')); "
            "print(demo.child_env(7)['AMENT_PREFIX_PATH'])")
    proc = subprocess.run([sys.executable, "-c", code], env=_env_without_ament(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    yaml_path, prefix = proc.stdout.split()
    assert yaml_path.endswith("config/depthnet_nano.yaml") and os.path.isfile(yaml_path)
    assert os.path.realpath(sys.prefix) in prefix.split(os.pathsep)
