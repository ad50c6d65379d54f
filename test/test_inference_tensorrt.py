"""TensorRT and torch2trt backends: run only where those packages and a GPU exist."""

from __future__ import annotations

import json

import numpy as np
import pytest
from inference_helpers import SMALL, random_checkpoint

from depthnet_nano_ros.inference import DepthEstimator, InferenceError
from depthnet_nano_ros.inference.availability import cuda_available


def _need(module: str) -> None:
    pytest.importorskip(module, reason=f"{module} is not installed (Jetson / NVIDIA only)")
    if not cuda_available():
        pytest.skip("no CUDA device visible to torch")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DEPTHNET_NANO_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_tensorrt_engine_matches_torch_and_is_cached(precision, tmp_path):
    _need("tensorrt")
    img = np.random.default_rng(0).integers(0, 256, (375, 1242, 3), np.uint8)
    ref = DepthEstimator.create(random_checkpoint(), backend="torch").estimate(img).depth
    est = DepthEstimator.create(random_checkpoint(), backend="tensorrt", precision=precision)
    assert est.backend == "tensorrt" and est.input_size == SMALL
    depth = est.estimate(img).depth
    assert depth.shape == img.shape[:2]
    tol = 1e-3 if precision == "fp32" else 3e-2
    assert np.median(np.abs(depth - ref) / ref) < tol


def test_foreign_tensorrt_engine_is_rejected(tmp_path):
    _need("tensorrt")
    from depthnet_nano_ros import cli
    from depthnet_nano_ros.inference.engine_cache import sidecar_path

    engine = tmp_path / "nano.engine"
    assert cli.main(["export", "--format", "tensorrt", "--checkpoint",
                     str(random_checkpoint()), "--output", str(engine)]) == 0
    assert DepthEstimator.create(engine=engine).backend == "tensorrt"
    meta = json.loads(sidecar_path(engine).read_text())
    sidecar_path(engine).write_text(json.dumps({**meta, "runtime": "tensorrt-0.0.1"}))
    with pytest.raises(InferenceError, match="stale or foreign"):
        DepthEstimator.create(engine=engine)


def test_torch2trt_round_trip(tmp_path):
    _need("torch2trt")
    from depthnet_nano_ros import cli

    path = tmp_path / "nano_trt.pth"
    assert cli.main(["export", "--format", "torch2trt", "--checkpoint",
                     str(random_checkpoint()), "--output", str(path)]) == 0
    img = np.random.default_rng(0).integers(0, 256, (301, 777, 3), np.uint8)
    est = DepthEstimator.create(engine=path)
    assert est.backend == "torch2trt" and est.estimate(img).depth.shape == (301, 777)
