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
    from depthnet_nano_ros.inference.export.engine_cache import sidecar_path

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


# What runs without TensorRT, torch2trt or a GPU: bookkeeping and error messages.


def test_calibration_feed_gives_each_frame_once_then_none(tmp_path):
    from depthnet_nano_ros.inference.export.tensorrt import CalibrationFeed

    frames = [np.full((1, 3, 2, 4), i, np.float64) for i in range(3)]
    feed = CalibrationFeed(frames, tmp_path / "calib.cache")
    got = [feed.next_batch() for _ in range(4)]
    assert got[3] is None
    for i, batch in enumerate(got[:3]):
        assert batch.dtype == np.float32 and batch.flags.c_contiguous and (batch == i).all()


def test_calibration_cache_is_reused_only_without_frames(tmp_path):
    from depthnet_nano_ros.inference.export.tensorrt import CalibrationFeed

    cache = tmp_path / "sub" / "calib.cache"
    CalibrationFeed([np.zeros((1, 3, 2, 4), np.float32)], cache).write_cache(b"TRT-table")
    assert cache.read_bytes() == b"TRT-table"
    # New frames are calibrated on, not silently replaced by an earlier calibration ...
    assert CalibrationFeed([np.zeros((1, 3, 2, 4), np.float32)], cache).read_cache() is None
    # ... while a rebuild without frames uses the earlier one.
    assert CalibrationFeed([], cache).read_cache() == b"TRT-table"
    assert CalibrationFeed([], tmp_path / "none.cache").read_cache() is None
    CalibrationFeed([], None).write_cache(b"x")  # no cache file: nothing written, no error


def test_torch2trt_int8_is_refused_before_conversion():
    from depthnet_nano_ros.inference.backends.torch2trt_backend import Torch2trtBackend
    from depthnet_nano_ros.model import DepthNetNano

    with pytest.raises(InferenceError, match="backend 'tensorrt' with precision int8"):
        Torch2trtBackend.from_model(DepthNetNano(), SMALL, precision="int8")


def test_torch_backend_leaves_the_callers_model_alone():
    import torch

    from depthnet_nano_ros.inference.backends.torch_backend import TorchBackend
    from depthnet_nano_ros.model import DepthNetNano

    model = DepthNetNano().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    TorchBackend(model, SMALL, device="cpu").run(np.zeros((1, 3, *SMALL), np.float32))
    assert model.training
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) and after[k].dtype == before[k].dtype
               for k in before)


def test_missing_gpu_names_a_cpu_only_torch_build():
    import torch

    from depthnet_nano_ros.inference.availability import missing_requirements

    if cuda_available() or torch.version.cuda is not None:
        pytest.skip("torch here is a CUDA build")
    missing = " ".join(missing_requirements("tensorrt"))
    assert "CPU-only build" in missing and "JetPack torch wheel" in missing
