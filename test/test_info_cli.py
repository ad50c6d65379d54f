"""`depthnet_nano info` from the installed executable: params, MACs, NetScore as JSON."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def _exe() -> str:
    exe = Path(sys.executable).parent / "depthnet_nano"
    if not exe.exists():
        found = shutil.which("depthnet_nano")
        if not found:
            pytest.skip("depthnet_nano is not installed (run `make install`)")
        return found
    return str(exe)


def test_info_json_reports_paper_complexity() -> None:
    out = subprocess.run([_exe(), "info", "--json"], check=True, capture_output=True, text=True,
                         env=os.environ.copy(), timeout=300)
    data = json.loads(out.stdout)
    assert abs(data["params"] / 1.75e6 - 1) < 0.05
    assert abs(data["macs"] / 4.66e9 - 1) < 0.05
    assert data["input_shape"] == [1, 3, 384, 1280]
    assert data["output_shape"] == [1, 1, 384, 1280]
    assert set(data["breakdown"]) >= {"encoder.stem", "encoder.stages.3", "decoder.blocks.0"}


def test_info_rejects_bad_size() -> None:
    out = subprocess.run([_exe(), "info", "--height", "375"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode != 0
    assert "multiples of 32" in out.stderr


def test_unknown_command_lists_commands() -> None:
    out = subprocess.run([_exe(), "nope"], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "kitti2bag" in out.stdout + out.stderr


def test_overrides_may_follow_options(tmp_path, capsys):
    """`train --config C --no-progress lr=1e-3`: KEY=VALUE after an option still parses."""
    from depthnet_nano_ros.cli import main

    cfg = tmp_path / "c.yaml"
    cfg.write_text("train:\n  - kind: kitti_raw\n    root: missing_folder\n")
    assert main(["train", "--config", str(cfg), "--no-progress", "lr=1e-3",
                 f"out_dir={tmp_path / 'o'}"]) == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments" not in err and "missing_folder does not exist" in err
