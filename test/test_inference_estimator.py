"""DepthEstimator: resolutions, encodings, backends, parity and errors on real KITTI frames."""

from __future__ import annotations

import numpy as np
import pytest
from inference_helpers import SMALL, exported_onnx, kitti_frames, random_checkpoint

from depthnet_nano_ros.inference import DepthEstimator, InferenceError
from depthnet_nano_ros.inference.availability import auto_backend
from depthnet_nano_ros.model import CheckpointError
from depthnet_nano_ros.model.checkpoint import REFERENCE_CHECKPOINT


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Keep cached exports out of the user's ~/.cache."""
    monkeypatch.setenv("DEPTHNET_NANO_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="module")
def torch_est() -> DepthEstimator:
    return DepthEstimator.create(random_checkpoint(), backend="torch")


@pytest.mark.parametrize("shape", [(375, 1242), (384, 1280), (301, 777)])
def test_output_has_input_resolution(torch_est, shape):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    pred = torch_est.estimate(img)
    assert pred.depth.shape == shape
    assert pred.depth.dtype == np.float32
    assert np.isfinite(pred.depth).all()
    assert pred.depth.min() >= 1.0 and pred.depth.max() <= 80.0
    assert set(pred.timings_ms) == {"preprocess", "inference", "postprocess"}
    assert all(v >= 0 for v in pred.timings_ms.values())
    assert torch_est.backend == "torch" and torch_est.input_size == SMALL


def test_bgr_encoding_is_channel_swapped_rgb(torch_est, kitti_drive_dir):
    rgb = kitti_frames(kitti_drive_dir, 1)[0]
    a = torch_est.estimate(rgb, encoding="rgb8").depth
    b = torch_est.estimate(np.ascontiguousarray(rgb[..., ::-1]), encoding="bgr8").depth
    c = torch_est.estimate(rgb, encoding="bgr8").depth
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-3  # the encoding really matters


def test_bad_images_are_rejected(torch_est):
    with pytest.raises(InferenceError, match="uint8"):
        torch_est.estimate(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(InferenceError, match="HxWx3"):
        torch_est.estimate(np.zeros((10, 10), np.uint8))
    with pytest.raises(InferenceError, match="encoding"):
        torch_est.estimate(np.zeros((10, 10, 3), np.uint8), encoding="mono8")


def test_onnxruntime_matches_torch_on_kitti(kitti_drive_dir):
    """fp32 parity over valid (unclamped) pixels, through the exported file and the CPU rewrite."""
    size = SMALL
    ref = DepthEstimator.create(random_checkpoint(size), backend="torch")
    ort = DepthEstimator.create(engine=exported_onnx(size), backend="onnxruntime")
    assert ort.backend == "onnxruntime" and ort.input_size == size
    for img in kitti_frames(kitti_drive_dir, 3):
        d_ref = ref.estimate(img).depth
        d_ort = ort.estimate(img).depth
        assert d_ort.shape == img.shape[:2]
        valid = (d_ref > 1.0) & (d_ref < 80.0)
        assert valid.mean() > 0.9
        rel = np.abs(d_ort[valid] - d_ref[valid]) / d_ref[valid]
        assert rel.max() <= 1e-4, f"max relative error {rel.max():.2e}"
        assert d_ref[valid].std() > 0.1  # a non-trivial depth map


def test_onnxruntime_from_checkpoint_exports_and_caches(tmp_path_factory):
    est = DepthEstimator.create(random_checkpoint(), backend="onnxruntime")
    assert est.backend == "onnxruntime"
    cached = list((tmp_path_factory.getbasetemp() / "cache" / "onnx").glob("*.onnx"))
    assert len(cached) == 1 and cached[0].with_name(cached[0].name + ".json").is_file()
    img = np.full((60, 200, 3), 128, np.uint8)
    ref = DepthEstimator.create(random_checkpoint(), backend="torch").estimate(img).depth
    np.testing.assert_allclose(est.estimate(img).depth, ref, rtol=1e-4)


def test_auto_picks_a_usable_backend():
    est = DepthEstimator.create(random_checkpoint(), backend="auto")
    assert est.backend == auto_backend()


def test_missing_reference_checkpoint_raises_checkpoint_error(tmp_path, monkeypatch):
    import depthnet_nano_ros.model.checkpoint as ckpt

    missing = tmp_path / "weights" / REFERENCE_CHECKPOINT.name  # as on a fresh install
    monkeypatch.setattr(ckpt, "REFERENCE_CHECKPOINT", missing)
    with pytest.raises(CheckpointError, match="depthnet_nano_ref.pt"):
        DepthEstimator.create(backend="torch")


def test_unavailable_backends_name_what_is_missing():
    for backend in ("tensorrt", "torch2trt"):
        try:
            DepthEstimator.create(random_checkpoint(), backend=backend)
        except InferenceError as exc:
            msg = str(exc)
            assert "missing" in msg and f"'auto' would use '{auto_backend()}'" in msg
        else:
            assert backend == auto_backend() or backend == "torch2trt"


def test_bad_arguments():
    with pytest.raises(InferenceError, match="unknown backend"):
        DepthEstimator.create(random_checkpoint(), backend="tflite")
    with pytest.raises(InferenceError, match="multiples of 32"):
        DepthEstimator.create(random_checkpoint(), backend="torch", input_size=(100, 300))
    with pytest.raises(InferenceError, match="int8"):
        DepthEstimator.create(random_checkpoint(), backend="torch", precision="int8")
