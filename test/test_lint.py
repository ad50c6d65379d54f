"""Linters run as tests (like ament_flake8): ruff over the package, tests and launch files."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def test_ruff_clean() -> None:
    ruff = Path(sys.executable).parent / "ruff"
    exe = str(ruff) if ruff.exists() else shutil.which("ruff")
    if exe is None:
        pytest.skip("ruff is not installed (it is in requirements.txt)")
    result = subprocess.run([exe, "check", "--output-format", "concise", "depthnet_nano_ros",
                             "test", "launch"], cwd=REPO, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_core_does_not_import_rclpy() -> None:
    core = ["model", "inference", "geometry", "kitti", "evaluation", "training"]
    files = [p for d in core for p in (REPO / "depthnet_nano_ros" / d).rglob("*.py")]
    offenders = [str(p.relative_to(REPO)) for p in files
                 if "import rclpy" in p.read_text() or "from rclpy" in p.read_text()]
    assert not offenders, f"the ROS-free core imports rclpy: {offenders}"
