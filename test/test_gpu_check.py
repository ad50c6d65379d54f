"""The GPU latency check (scripts/gpu_check.sh): refuses without CUDA; JSON via a CPU dry run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from depthnet_nano_ros.inference.bench import gpu_check

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "gpu_check.sh"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: nothing to refuse")
def test_refuses_cleanly_without_cuda(tmp_path):
    out = subprocess.run([str(SCRIPT), "--output", str(tmp_path / "g.json")],
                         env={**os.environ, "PYTHON": sys.executable}, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == gpu_check.EXIT_NO_CUDA == 3
    assert out.stderr.startswith("gpu_check: error: no CUDA device"), out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and out.stdout == ""
    assert not (tmp_path / "g.json").exists()


def test_script_names_a_missing_requirement(tmp_path):
    fake = tmp_path / "python"  # an interpreter without torch
    fake.symlink_to(sys.executable)
    env = {**os.environ, "PYTHON": str(fake), "PYTHONNOUSERSITE": "1", "PYTHONPATH": "",
           "PYTHONHOME": str(Path(sys.base_prefix))}
    out = subprocess.run([str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 4, out.stderr
    assert out.stderr.startswith("gpu_check: error:") and "torch" in out.stderr


def test_cpu_dry_run_writes_the_json(tmp_path, capsys):
    onnx_dir = tmp_path / "onnx"
    rc = gpu_check.main(["--cpu-dry-run", "--output", str(tmp_path / "g.json"), "--models",
                         "depthnet_nano", "fastdepth", "--onnx-dir", str(onnx_dir)])
    assert rc == 0
    doc = json.loads((tmp_path / "g.json").read_text())
    assert doc["machine"]["device"] == "cpu" and "gpu" not in doc["machine"]
    rows = doc["results"]
    assert [(r["model"], r["runtime"]) for r in rows] == [
        ("depthnet_nano", "torch"), ("depthnet_nano", "onnxruntime"),
        ("fastdepth", "torch"), ("fastdepth", "onnxruntime")]
    for r in rows:
        assert "skipped" not in r, r
        assert (r["height"], r["width"]) == gpu_check.DRY_RUN_SIZES[0] and r["runs"] == 2
        assert 0 < r["median_ms"] <= r["p90_ms"]
    assert sorted(p.name for p in onnx_dir.iterdir()) == ["depthnet_nano_64x128.onnx",
                                                          "fastdepth_64x128.onnx"]
    ratios = doc["speedup_vs_peers"]
    assert set(ratios) == {"64x128 torch fp32", "64x128 onnxruntime fp32"}
    torch_rows = {r["model"]: r["median_ms"] for r in rows if r["runtime"] == "torch"}
    assert ratios["64x128 torch fp32"]["fastdepth"] == round(
        torch_rows["fastdepth"] / torch_rows["depthnet_nano"], 3)
    assert "wrote" in capsys.readouterr().out


def test_a_failing_case_is_recorded_and_the_rest_still_run(tmp_path):
    (tmp_path / "depthnet_nano_64x128.onnx").write_bytes(b"not an onnx graph")
    doc = gpu_check.run_check("cpu", ((64, 128),), 0, 1, budget_s=600, onnx_dir=tmp_path,
                              models=("depthnet_nano",))
    torch_row, ort_row = doc["results"]
    assert torch_row["median_ms"] > 0 and "skipped" not in torch_row
    assert "median_ms" not in ort_row and ort_row["skipped"]
    over = gpu_check.run_check("cpu", ((64, 128),), 0, 1, budget_s=-1, models=("depthnet_nano",))
    assert [r["skipped"] for r in over["results"]] == ["time budget of -1 s spent"] * 2
    assert over["speedup_vs_peers"] == {}
