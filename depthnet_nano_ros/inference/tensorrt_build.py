"""Build TensorRT engines from ONNX: fp16 / int8 (entropy calibration on real frames), timing
cache, workspace limit; engines cached by TensorRT version, GPU, precision, size, model hash."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from depthnet_nano_ros.fileio import atomic_write_bytes
from depthnet_nano_ros.inference.engine_cache import (
    ArtifactKey,
    cache_dir,
    cache_path,
    lookup,
    write_artifact,
)
from depthnet_nano_ros.inference.errors import InferenceError

DEFAULT_WORKSPACE_MB = 1024


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
    import tensorrt as trt

    gpu, cc = device_identity()
    return ArtifactKey("tensorrt", model_hash, tuple(input_size), precision,
                       f"tensorrt-{trt.__version__}", gpu, cc)


def _make_calibrator(batches: list[np.ndarray], cache_file: Path):
    """An IInt8EntropyCalibrator2 feeding `batches` from one device buffer, with a cache file."""
    import tensorrt as trt
    import torch

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        """Feeds prepared frames one at a time; reads/writes the calibration cache."""

        def __init__(self) -> None:
            super().__init__()
            self.batches = batches
            self.index = 0
            shape = batches[0].shape if batches else (1, 3, 1, 1)
            self.device = torch.empty(shape, dtype=torch.float32, device="cuda")

        def get_batch_size(self) -> int:
            return 1

        def get_batch(self, names: list[str]) -> list[int] | None:
            if self.index >= len(self.batches):
                return None
            self.device.copy_(torch.from_numpy(self.batches[self.index]))
            self.index += 1
            return [int(self.device.data_ptr())]

        def read_calibration_cache(self) -> bytes | None:
            return cache_file.read_bytes() if cache_file.is_file() else None

        def write_calibration_cache(self, cache: bytes) -> None:
            atomic_write_bytes(cache_file, bytes(cache))

    return EntropyCalibrator()


def build_engine(onnx_bytes: bytes, precision: str, *, calib_batches: list[np.ndarray] | None
                 = None, calib_cache: Path | None = None, timing_cache: Path | None = None,
                 workspace_mb: int = DEFAULT_WORKSPACE_MB) -> bytes:
    """Parse ONNX and build a serialized engine; int8 needs batches or an existing calib cache."""
    import tensorrt as trt

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
    cache_bytes = timing_cache.read_bytes() if timing_cache and timing_cache.is_file() else b""
    tcache = config.create_timing_cache(cache_bytes)
    config.set_timing_cache(tcache, ignore_mismatch=False)
    if precision in ("fp16", "int8"):
        config.set_flag(trt.BuilderFlag.FP16)
    if precision == "int8":
        have_cache = calib_cache is not None and calib_cache.is_file()
        if not calib_batches and not have_cache:
            raise InferenceError("int8 needs calibration frames: pass --calib-images DIR or "
                                 "--calib-bag BAG (a calibration cache is reused afterwards)")
        config.set_flag(trt.BuilderFlag.INT8)
        config.int8_calibrator = _make_calibrator(calib_batches or [], calib_cache
                                                  or Path("calibration.cache"))
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise InferenceError("TensorRT failed to build the engine (see its log above); try a "
                             "larger --workspace-mb or precision fp32")
    if timing_cache is not None:
        atomic_write_bytes(timing_cache, bytes(config.get_timing_cache().serialize()))
    return bytes(serialized)


def cached_engine(onnx_bytes: bytes, model_hash: str, input_size: tuple[int, int],
                  precision: str, *, calib_batches: list[np.ndarray] | None = None,
                  workspace_mb: int = DEFAULT_WORKSPACE_MB, output: Path | None = None) -> Path:
    """An engine for this exact model/GPU/TensorRT from the cache, building it on a miss.

    A cached engine whose key differs (other GPU, TensorRT version or model) is deleted and
    rebuilt, never loaded. With `output`, the engine (and its sidecar) is also written there.
    """
    key = engine_key(model_hash, input_size, precision)
    path = lookup(key, ".engine")
    if path is None:
        root = cache_dir() / "tensorrt"
        tag = key.runtime + "_" + key.device.replace(" ", "_") + "_" + key.compute_capability
        data = build_engine(
            onnx_bytes, precision, calib_batches=calib_batches,
            calib_cache=root / f"calib_{model_hash[:16]}_{input_size[0]}x{input_size[1]}.cache",
            timing_cache=root / f"timing_{tag}.cache", workspace_mb=workspace_mb)
        path = write_artifact(cache_path(key, ".engine"), data, key)
    if output is not None:
        from depthnet_nano_ros.inference.engine_cache import read_sidecar

        write_artifact(Path(output), path.read_bytes(), key, read_sidecar(path))
        return Path(output)
    return path
