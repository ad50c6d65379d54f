"""How DepthEstimator.create turns a checkpoint or an exported artifact into a backend."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from torch import nn

from depthnet_nano_ros.inference.availability import (
    auto_backend,
    default_device,
    missing_requirements,
)
from depthnet_nano_ros.inference.backends.ort_backend import CpuOptions
from depthnet_nano_ros.inference.errors import InferenceError
from depthnet_nano_ros.inference.export.engine_cache import model_hash
from depthnet_nano_ros.model.checkpoint import load_checkpoint

if TYPE_CHECKING:
    from depthnet_nano_ros.inference.estimator import DepthEstimator

DEFAULT_CPU = CpuOptions()
ENGINE_SUFFIXES = {".onnx": "onnx", ".engine": "tensorrt", ".plan": "tensorrt",
                   ".trt": "tensorrt", ".pth": "torch2trt"}


def _resolve(backend: str, engine_kind: str | None = None) -> str:
    """Concrete backend for `auto` given what the artifact allows."""
    if backend != "auto":
        return backend
    if engine_kind == "tensorrt":
        return "tensorrt"
    if engine_kind == "torch2trt":
        return "torch2trt"
    choice = auto_backend()
    return "onnxruntime" if engine_kind == "onnx" and choice == "torch" else choice


def _check_requested_size(path: Path, have: tuple[int, int],
                          want: tuple[int, int] | None) -> None:
    """InferenceError when an artifact's fixed input size differs from the requested one."""
    if want is not None and tuple(want) != tuple(have):
        raise InferenceError(
            f"{path} was exported for input {have[0]}x{have[1]} but input_size "
            f"{want[0]}x{want[1]} was requested; re-export with --height {want[0]} "
            f"--width {want[1]} or drop the input size"
        )


def from_checkpoint(cls: type[DepthEstimator], checkpoint: str | Path | None, backend: str,
                    precision: str, size: tuple[int, int] | None,
                    cpu: CpuOptions = DEFAULT_CPU) -> DepthEstimator:
    """Load weights (None = the reference checkpoint) and put them on `backend`."""
    model, info = load_checkpoint(checkpoint)
    cfg = info.model_config
    return from_model(cls, model, size or tuple(info.input_size), backend, precision,
                      min_depth=cfg.min_depth, max_depth=cfg.max_depth, source=str(info.path),
                      cpu=cpu, reference_focal_px=info.focal_px,
                      reference_width=int(info.input_size[1]))


def from_model(cls: type[DepthEstimator], model: nn.Module, size: tuple[int, int], backend: str,
               precision: str, *, min_depth: float, max_depth: float,
               source: str, cpu: CpuOptions = DEFAULT_CPU,
               reference_focal_px: float | None = None,
               reference_width: int | None = None) -> DepthEstimator:
    """Put an in-memory network on `backend` (ONNX export / engine build cached by hash)."""
    resolved = _resolve(backend)
    mhash = model_hash(model)
    common = {"min_depth": min_depth, "max_depth": max_depth, "model_hash": mhash,
              "source": source, "reference_focal_px": reference_focal_px,
              "reference_width": reference_width}
    if resolved == "torch":
        from depthnet_nano_ros.inference.backends.torch_backend import TorchBackend

        return cls(TorchBackend(model, size, device=default_device(), precision=precision),
                   **common)
    if resolved == "torch2trt":
        from depthnet_nano_ros.inference.backends.torch2trt_backend import Torch2trtBackend

        return cls(Torch2trtBackend.from_model(model, size, precision=precision,
                                               metadata=common), **common)
    from depthnet_nano_ros.inference.export.onnx import cached_onnx_bytes

    data = cached_onnx_bytes(model, size, mhash, {"min_depth": min_depth,
                                                  "max_depth": max_depth})
    if resolved == "onnxruntime":
        _check_ort_precision(precision, source)
        from depthnet_nano_ros.inference.backends.ort_backend import OrtBackend

        return cls(OrtBackend(data, size, source=source, threads=cpu.threads, spin=cpu.spin),
                   **common)
    from depthnet_nano_ros.inference.backends.trt_backend import TrtBackend
    from depthnet_nano_ros.inference.export.tensorrt import cached_engine

    engine_path = cached_engine(data, mhash, size, precision)
    return cls(TrtBackend.from_file(engine_path, model_hash=mhash), **common)


def _check_ort_precision(precision: str, source: Path | str) -> None:
    """onnxruntime runs the graph's own precision; fp16/int8 need other routes."""
    if precision == "int8":
        raise InferenceError(
            f"onnxruntime int8 needs a calibrated model: run `depthnet_nano export --format onnx "
            f"--precision int8 --calib-images DIR --output model_int8.onnx` for {source} and pass "
            "it as the engine")
    if precision == "fp16":
        raise InferenceError("onnxruntime runs the exported fp32 graph; for fp16 use backend "
                             "'tensorrt' (or 'torch' on CUDA), or precision fp32")


def from_engine(cls: type[DepthEstimator], path: Path, checkpoint: str | Path | None,
                backend: str, precision: str, size: tuple[int, int] | None,
                cpu: CpuOptions = DEFAULT_CPU) -> DepthEstimator:
    """Load an exported artifact: .onnx, a TensorRT engine or a torch2trt state file."""
    if not path.is_file():
        raise InferenceError(f"engine {path} does not exist: create it with "
                             "`depthnet_nano export --output PATH`")
    kind = ENGINE_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise InferenceError(f"cannot tell the format of {path} from its suffix; use one of "
                             f"{sorted(ENGINE_SUFFIXES)} (.onnx, TensorRT .engine, torch2trt .pth)")
    resolved = _resolve(backend, kind)
    allowed = {"onnx": ("onnxruntime", "tensorrt"), "tensorrt": ("tensorrt",),
               "torch2trt": ("torch2trt",)}[kind]
    if resolved not in allowed:
        raise InferenceError(
            f"backend {resolved!r} cannot run {path} ({kind}); it runs on {allowed}"
            + ("; backend 'torch' needs --checkpoint instead" if resolved == "torch" else ""))
    missing = missing_requirements(resolved)
    if missing:
        raise InferenceError(f"backend {resolved!r} is not usable here: missing "
                             f"{', '.join(missing)}; backend 'auto' would use {auto_backend()!r}")
    expected_hash = model_hash(load_checkpoint(checkpoint)[0]) if checkpoint is not None else None
    if kind == "onnx":
        return _from_onnx(cls, path, resolved, precision, size, expected_hash, cpu)
    if kind == "tensorrt":
        from depthnet_nano_ros.inference.backends.trt_backend import TrtBackend

        eng = TrtBackend.from_file(path, model_hash=expected_hash)
    else:
        from depthnet_nano_ros.inference.backends.torch2trt_backend import Torch2trtBackend

        eng = Torch2trtBackend.load(path, model_hash=expected_hash)
    _check_requested_size(path, eng.input_size, size)
    return cls(eng, **engine_fields(eng.metadata, path))


def engine_fields(meta: dict, path: Path) -> dict:
    """DepthEstimator keyword arguments from an exported artifact's metadata."""
    focal, width = meta.get("focal_px"), meta.get("focal_width")
    try:
        focal = float(focal) if focal not in (None, "", "None") else None
        width = int(width) if width not in (None, "", "None") else None
    except (TypeError, ValueError) as exc:
        raise InferenceError(f"{path} has unreadable focal metadata ({exc}); re-export it with "
                             "`depthnet_nano export`") from exc
    return {"min_depth": float(meta.get("min_depth", 1.0)),
            "max_depth": float(meta.get("max_depth", 80.0)),
            "model_hash": str(meta.get("model_hash", "")), "source": str(path),
            "reference_focal_px": focal, "reference_width": width}


def _from_onnx(cls: type[DepthEstimator], path: Path, resolved: str, precision: str,
               size: tuple[int, int] | None, expected_hash: str | None,
               cpu: CpuOptions) -> DepthEstimator:
    """An exported ONNX file on onnxruntime, or built into a TensorRT engine."""
    from depthnet_nano_ros.inference.export.onnx import load_onnx, onnx_input_size, onnx_metadata

    proto = load_onnx(path)
    meta = onnx_metadata(proto)
    have = onnx_input_size(proto, path)
    _check_requested_size(path, have, size)
    mhash = meta.get("model_hash", "")
    if expected_hash is not None and mhash != expected_hash:
        raise InferenceError(f"{path} was exported from different weights (model hash "
                             f"{mhash[:12] or 'unknown'} != checkpoint's {expected_hash[:12]}); "
                             "re-export it from this checkpoint")
    common = engine_fields(meta, path)
    data = path.read_bytes()
    if resolved == "onnxruntime":
        if precision == "fp16":  # int8 files carry their own precision
            _check_ort_precision(precision, path)
        from depthnet_nano_ros.inference.backends.ort_backend import OrtBackend

        return cls(OrtBackend(data, have, source=path, threads=cpu.threads, spin=cpu.spin),
                   **common)
    from depthnet_nano_ros.inference.backends.trt_backend import TrtBackend
    from depthnet_nano_ros.inference.export.tensorrt import cached_engine

    engine_path = cached_engine(data, mhash or model_hash_of_bytes(data), have, precision)
    return cls(TrtBackend.from_file(engine_path), **common)


def model_hash_of_bytes(data: bytes) -> str:
    """Stand-in model hash for ONNX files without depthnet_nano metadata."""
    import hashlib

    return hashlib.sha256(data).hexdigest()
