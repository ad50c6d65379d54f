"""The package builds with colcon as on a ROS 2 machine and installs what ros2 run/launch need."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
IGNORE = shutil.ignore_patterns(".git", ".venv", "build", "install", "log", "demo_out",
                                "__pycache__", "*.pyc", ".pytest_cache", ".ruff_cache", "runs")


@pytest.fixture(scope="module")
def colcon_install(tmp_path_factory: pytest.TempPathFactory) -> Path:
    colcon = VENV_BIN / "colcon"
    if not colcon.exists():
        pytest.skip("colcon is not installed here (pip install colcon-core colcon-ros)")
    ws = tmp_path_factory.mktemp("colcon_ws")
    shutil.copytree(REPO, ws / "src" / "depthnet_nano_ros", ignore=IGNORE)
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(
        [str(colcon), "build", "--base-paths", "src", "--event-handlers", "console_direct-",
         "--cmake-args", f"-DPython3_EXECUTABLE={sys.executable}", "-DBUILD_TESTING=OFF"],
        cwd=ws, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return ws / "install" / "depthnet_nano_ros"


def test_colcon_install_layout(colcon_install: Path) -> None:
    lib = colcon_install / "lib" / "depthnet_nano_ros"
    for exe in ("depthnet_nano", "depth_node"):
        assert os.access(lib / exe, os.X_OK), f"{exe} missing from lib/depthnet_nano_ros"
    share = colcon_install / "share" / "depthnet_nano_ros"
    assert (share / "package.xml").is_file()
    assert (share / "launch" / "depth.launch.py").is_file()
    assert (share / "config" / "depthnet_nano.yaml").is_file()
    assert (share / "config" / "fastdds_large_data.xml").is_file()
    site = next((colcon_install / "lib").glob("python3*/site-packages/depthnet_nano_ros"))
    assert (site / "msg" / "_depth_metrics.py").is_file()
    assert (site / "model" / "depthnet_nano.py").is_file()


def test_colcon_installed_cli_runs(colcon_install: Path) -> None:
    site = next((colcon_install / "lib").glob("python3*/site-packages"))
    prefixes = f"{colcon_install}{os.pathsep}{os.environ.get('AMENT_PREFIX_PATH', '')}"
    env = {**os.environ, "PYTHONPATH": str(site), "AMENT_PREFIX_PATH": prefixes}
    out = subprocess.run(
        [str(colcon_install / "lib" / "depthnet_nano_ros" / "depthnet_nano"), "info", "--json",
         "--height", "96", "--width", "320"],
        env=env, capture_output=True, text=True, timeout=300, check=True,
    )
    assert json.loads(out.stdout)["output_shape"] == [1, 1, 96, 320]
    probe = subprocess.run(
        [sys.executable, "-c", "import depthnet_nano_ros, depthnet_nano_ros.msg as m; "
         "print(depthnet_nano_ros.__file__); print(m.DepthMetrics.__name__)"],
        env=env, capture_output=True, text=True, timeout=120, check=True,
        cwd=colcon_install,  # not the caller's directory: `-c` puts it first on sys.path
    )
    assert probe.stdout.splitlines()[0].startswith(str(site))
    assert probe.stdout.splitlines()[1] == "DepthMetrics"
