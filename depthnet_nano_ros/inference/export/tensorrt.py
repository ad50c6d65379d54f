"""Build TensorRT engines from ONNX: fp16 / int8 (entropy calibration on real frames), timing
cache, workspace limit; engines cached by TensorRT version, GPU, precision, size, model hash."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from depthnet_nano_ros.fileio import atomic_write_bytes
from depthnet_nano_ros.inference.errors import InferenceError
from depthnet_nano_ros.inference.export.engine_cache import (
    ArtifactKey,
    cache_dir,
    cache_path,
    lookup,
    write_artifact,
)

DEFAULT_WORKSPACE_MB = 1024
#: Oldest TensorRT with the name-based tensor API used here (num_io_tensors, execute_async_v3).
MIN_TENSORRT = (8, 5)


def import_tensorrt():
    """The `tensorrt` module, or InferenceError when it predates the name-based tensor API."""
    import tensorrt as trt

    version = tuple(int(p) for p in trt.__version__.split(".")[:2] if p.isdigit())
    if version < MIN_TENSORRT:
        raise InferenceError(
            f"TensorRT {trt.__version__} is too old: the tensorrt backend needs TensorRT 8.5 or "
            "newer (JetPack 6: TensorRT 10; pip install tensorrt on x86); use backend "
            "'onnxruntime' or 'torch' with this one")
    return trt


def device_identity() -> tuple[str, str]:
    """(GPU name, compute capability "major.minor") of CUDA device 0."""
    import torch

    if not torch.cuda.is_available():
        raise InferenceError("TensorRT needs a CUDA device and torch sees none; backend 'auto' "
                             "would use onnxruntime")
    major, minor = torch.cuda.get_device_capability(0)
    return torch.cuda.get_device_name(0), f"{major}.{minor}"


def engine_key(model_hash: str, input_size: tuple[int, int], precision: str) -> ArtifactKey:
    """The cache key of an engine built on this machine with this TensorRT."""
    trt = import_tensorrt()
    gpu, cc = device_identity()
    return ArtifactKey("tensorrt", model_hash, tuple(input_size), precision,
                       f"tensorrt-{trt.__version__}", gpu, cc)


class CalibrationFeed:
    """The calibrator's bookkeeping, free of TensorRT: each frame once, then None; the cache.

    With frames, TensorRT calibrates on them (a cache left by earlier frames is not read, so
    new frames are never silently ignored) and the result is written to `cache_file`; without
    frames, the cache of an earlier calibration is the only source.
    """

    def __init__(self, batches: list[np.ndarray], cache_file: Path | None) -> None:
        self.batches = batches
        self.cache_file = cache_file
        self.index = 0

    def next_batch(self) -> np.ndarray | None:
        """The next (1,3,h,w) float32 frame, or None when all were given."""
        if self.index >= len(self.batches):
            return None
        batch = np.ascontiguousarray(self.batches[self.index], dtype=np.float32)
        self.index += 1
        return batch

    def read_cache(self) -> bytes | None:
        """The earlier calibration, used only when no frames were given."""
        if self.batches or self.cache_file is None or not self.cache_file.is_file():
            return None
        return self.cache_file.read_bytes()

    def write_cache(self, cache: bytes) -> None:
        """Keep TensorRT's calibration table for rebuilds without frames."""
        if self.cache_file is not None:
            atomic_write_bytes(self.cache_file, bytes(cache))


def _make_calibrator(feed: CalibrationFeed, trt):
    """An IInt8EntropyCalibrator2 copying each frame of `feed` into one device buffer."""
    import torch

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        """TensorRT's calibrator interface over a CalibrationFeed (batch size 1)."""

        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            shape = feed.batches[0].shape if feed.batches else (1, 3, 1, 1)
            self.device = torch.empty(shape, dtype=torch.float32, device="cuda")

        def get_batch_size(self) -> int:
            return 1

        def get_batch(self, names: list[str]) -> list[int] | None:
            batch = feed.next_batch()
            if batch is None:
                return None
            self.device.copy_(torch.from_numpy(batch))  # blocking: done before TensorRT reads
            return [int(self.device.data_ptr())]

        def read_calibration_cache(self) -> bytes | None:
            return feed.read_cache()

        def write_calibration_cache(self, cache) -> None:
            feed.write_cache(bytes(cache))

    return EntropyCalibrator()


def _timing_cache(config, path: Path | None):
    """Attach a timing cache read from `path` (an unusable file means starting empty)."""
    data = path.read_bytes() if path is not None and path.is_file() else b""
    try:
        cache = config.create_timing_cache(data) if data else None
    except RuntimeError:
        cache = None
    if cache is None or not config.set_timing_cache(cache, False):
        config.set_timing_cache(config.create_timing_cache(b""), False)


def build_engine(onnx_bytes: bytes, precision: str, *, calib_batches: list[np.ndarray] | None
                 = None, calib_cache: Path | None = None, timing_cache: Path | None = None,
                 workspace_mb: int = DEFAULT_WORKSPACE_MB) -> bytes:
    """Parse ONNX and build a serialized engine; int8 needs batches or an existing calib cache."""
    trt = import_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    major = int(trt.__version__.split(".")[0])
    flags = 0 if major >= 10 else 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_bytes):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise InferenceError(f"TensorRT's ONNX parser rejected the model: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb << 20)
    _timing_cache(config, timing_cache)
    if precision in ("fp16", "int8"):
        config.set_flag(trt.BuilderFlag.FP16)
    if precision == "int8":
        have_cache = calib_cache is not None and calib_cache.is_file()
        if not calib_batches and not have_cache:
            raise InferenceError(
                "TensorRT int8 needs calibration frames and none were given (nor a calibration "
                "cache from an earlier run): run `depthnet_nano export --format tensorrt "
                "--precision int8 --calib-images DIR` (or --calib-bag BAG) once")
        config.set_flag(trt.BuilderFlag.INT8)
        calibrator = _make_calibrator(CalibrationFeed(calib_batches or [], calib_cache), trt)
        config.int8_calibrator = calibrator  # `calibrator` stays referenced until the build ends
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise InferenceError("TensorRT failed to build the engine (see its log above); try a "
                             "larger --workspace-mb or precision fp32")
    if timing_cache is not None:
        atomic_write_bytes(timing_cache, bytes(config.get_timing_cache().serialize()))
    return bytes(serialized)


def cached_engine(onnx_bytes: bytes, model_hash: str, input_size: tuple[int, int],
                  precision: str, *, calib_batches: list[np.ndarray] | None = None,
                  workspace_mb: int = DEFAULT_WORKSPACE_MB, output: Path | None = None,
                  metadata: dict | None = None) -> Path:
    """An engine for this exact model/GPU/TensorRT from the cache, building it on a miss.

    A cached engine whose key differs (other GPU, TensorRT version or model) is deleted and
    rebuilt, never loaded. int8 with `calib_batches` always calibrates on them and rebuilds
    (the key does not hold the frames); int8 without frames reuses the cached engine or the
    last calibration. With `output`, the engine (and its sidecar, plus `metadata` such as the
depth range and reference focal) is also written there.
    """
    key = engine_key(model_hash, input_size, precision)
    recalibrate = precision == "int8" and bool(calib_batches)
    path = None if recalibrate else lookup(key, ".engine")
    if path is None:
        root = cache_dir() / "tensorrt"
        tag = key.runtime + "_" + key.device.replace(" ", "_") + "_" + key.compute_capability
        h, w = input_size
        data = build_engine(
            onnx_bytes, precision, calib_batches=calib_batches,
            calib_cache=root / f"calib_{model_hash[:16]}_{h}x{w}_{key.runtime}.cache",
            timing_cache=root / f"timing_{tag}.cache", workspace_mb=workspace_mb)
        path = write_artifact(cache_path(key, ".engine"), data, key)
    if output is not None:
        from depthnet_nano_ros.inference.export.engine_cache import read_sidecar

        extra = {k: v for k, v in (read_sidecar(path) or {}).items() if k != "sha256"}
        write_artifact(Path(output), path.read_bytes(), key, {**extra, **(metadata or {})})
        return Path(output)
    return path
