"""Benchmark protocol and the onnxruntime CPU session settings it measures with."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from inference_helpers import SMALL, exported_onnx, random_checkpoint

from depthnet_nano_ros import cli
from depthnet_nano_ros.inference import DepthEstimator, InferenceError
from depthnet_nano_ros.inference.backends.ort_backend import spin_wait
from depthnet_nano_ros.inference.bench.benchmark import nano_onnx_bytes, time_in_blocks

SPIN_KEY = "session.intra_op.allow_spinning"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DEPTHNET_NANO_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def _config(est: DepthEstimator, key: str) -> str:
    return est.engine.session.get_session_options().get_session_config_entry(key)


def test_blocks_time_every_model_warm_and_in_turns():
    est = DepthEstimator.create(engine=exported_onnx(), backend="onnxruntime")
    calls: list[str] = []

    class Counting:
        """The real estimator, recording which model each frame went to."""

        def __init__(self, name: str) -> None:
            self.name = name

        def estimate(self, image):
            calls.append(self.name)
            return est.estimate(image)

    image = np.zeros((70, 200, 3), np.uint8)
    out = time_in_blocks({"a": Counting("a"), "b": Counting("b")}, image, runs=5, warmup=1,
                         rounds=2)
    assert [len(out[m]["inference"]) for m in "ab"] == [5, 5]
    assert all(len(v) == 5 for m in "ab" for v in out[m].values())
    # warm-up, then blocks of 1 untimed + 3 timed and 1 untimed + 2 timed frames, in turns
    assert calls == ["a", "b"] + ["a"] * 4 + ["b"] * 4 + ["a"] * 3 + ["b"] * 3
    assert all(t > 0 for t in out["a"]["inference"])


def test_cpu_session_spins_by_default(monkeypatch):
    monkeypatch.setenv("DEPTHNET_NANO_SPIN", "")  # unset: the default
    est = DepthEstimator.create(engine=exported_onnx(), backend="onnxruntime")
    assert _config(est, SPIN_KEY) == "1"
    monkeypatch.setenv("DEPTHNET_NANO_SPIN", "0")
    assert _config(DepthEstimator.create(engine=exported_onnx(), backend="onnxruntime"),
                   SPIN_KEY) == "0"


def test_bad_spin_setting_names_the_variable(monkeypatch):
    monkeypatch.setenv("DEPTHNET_NANO_SPIN", "maybe")
    with pytest.raises(InferenceError, match="DEPTHNET_NANO_SPIN='maybe'.*set it to 1"):
        spin_wait()
    assert spin_wait(False) is False  # an explicit argument wins over the environment


def test_bench_no_spin_on_onnxruntime_reports_it(capsys, monkeypatch):
    monkeypatch.setenv("DEPTHNET_NANO_SPIN", "1")  # restored after --no-spin changes it
    rc = cli.main(["bench", "--backend", "onnxruntime", "--height", str(SMALL[0]), "--width",
                   str(SMALL[1]), "--runs", "2", "--warmup", "0", "--no-spin", "--json",
                   "--checkpoint", str(random_checkpoint())])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["machine"]["onnxruntime_spin_wait"] is False
    (nano,) = doc["results"]
    assert nano["backend"] == "onnxruntime" and nano["median_ms"] > 0


def test_profile_accounts_for_the_run_by_operator_and_width(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DEPTHNET_NANO_CPU_KERNELS", "0")  # profiles the tuned graph's ops
    rc = cli.main(["bench", "--backend", "onnxruntime", "--height", str(SMALL[0]), "--width",
                   str(SMALL[1]), "--runs", "2", "--warmup", "0", "--json", "--profile",
                   str(tmp_path / "prof"), "--checkpoint", str(random_checkpoint())])
    assert rc == 0
    prof = json.loads(capsys.readouterr().out)["profile"]
    assert Path(prof["trace"]).parent == tmp_path / "prof" and Path(prof["trace"]).is_file()
    total = prof["kernel_ms_per_frame"]
    assert 0 < total <= prof["wall_ms_per_frame_profiled"] * 1.05
    assert sum(prof["by_op"].values()) == pytest.approx(total, rel=1e-3)
    assert sum(prof["by_size"].values()) == pytest.approx(total, rel=1e-3)
    # the tuned CPU graph: convolutions and the SELU primitives, no Selu kernel left
    assert "Selu" not in prof["by_op"] and {"Exp", "Clip"} <= set(prof["by_op"])
    assert any(k.startswith("Conv") for k in prof["by_op"])
    assert f"width {SMALL[1] // 2}" in prof["by_size"]  # the decoder's last, half-size maps


def test_profile_needs_an_onnx_graph(tmp_path):
    bad = tmp_path / "nano.engine"
    bad.write_bytes(b"not onnx")
    with pytest.raises(InferenceError, match="--profile reads an .onnx graph"):
        nano_onnx_bytes(None, bad, SMALL)


def test_cpu_threads_and_spin_are_explicit_estimator_options(monkeypatch):
    monkeypatch.setenv("DEPTHNET_NANO_THREADS", "2")
    est = DepthEstimator.create(engine=exported_onnx(), backend="onnxruntime", cpu_threads=1,
                                cpu_spin=False)
    settings = est.cpu_settings
    assert {k: settings[k] for k in ("threads", "spin")} == {"threads": 1, "spin": False}
    assert settings["path"].startswith(("fused-kernels", "tuned-graph"))  # which graph runs
    assert DepthEstimator.create(engine=exported_onnx(),
                                 backend="onnxruntime").cpu_settings["threads"] == 2
    assert DepthEstimator.create(checkpoint=random_checkpoint(), backend="torch").cpu_settings == {}
    with pytest.raises(InferenceError, match="cpu threads=0 must be a whole number >= 1"):
        DepthEstimator.create(engine=exported_onnx(), backend="onnxruntime", cpu_threads=0)
