"""Which runtimes this machine offers, and what `auto` picks from them."""

from __future__ import annotations

import importlib.util
import os
from functools import lru_cache

#: Backends in `auto` preference order.
BACKENDS = ("tensorrt", "onnxruntime", "torch", "torch2trt")


def _importable(name: str) -> bool:
    """Whether a top-level module can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


@lru_cache(maxsize=1)
def cuda_available() -> bool:
    """Whether torch sees a CUDA device."""
    import torch

    return bool(torch.cuda.is_available())


def tensorrt_importable() -> bool:
    """Whether the `tensorrt` Python package is installed."""
    return _importable("tensorrt")


def torch2trt_importable() -> bool:
    """Whether the `torch2trt` Python package is installed."""
    return _importable("torch2trt")


def onnxruntime_importable() -> bool:
    """Whether the `onnxruntime` Python package is installed."""
    return _importable("onnxruntime")


@lru_cache(maxsize=1)
def ort_cuda_available() -> bool:
    """Whether onnxruntime offers its CUDA execution provider."""
    if not onnxruntime_importable():
        return False
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()


def _cuda_hint() -> str:
    """What is missing when torch sees no GPU, naming a CPU-only torch build as the cause."""
    import torch

    if torch.version.cuda is None and getattr(torch.version, "hip", None) is None:
        return (f"a CUDA device visible to torch (torch {torch.__version__} is a CPU-only build: "
                "on a Jetson install NVIDIA's JetPack torch wheel, on x86 a CUDA build)")
    return "a CUDA device visible to torch"


def missing_requirements(backend: str) -> list[str]:
    """What this machine lacks for `backend` (empty when it is usable)."""
    missing = []
    if backend == "onnxruntime" and not onnxruntime_importable():
        missing.append("the onnxruntime package (pip install onnxruntime)")
    if backend in ("tensorrt", "torch2trt"):
        if not cuda_available():
            missing.append(_cuda_hint())
        if not tensorrt_importable():
            missing.append("the tensorrt Python package (on a Jetson JetPack's python3-libnvinfer, "
                           "seen from a venv only with --system-site-packages; on x86 pip install "
                           "tensorrt)")
        if backend == "torch2trt" and not torch2trt_importable():
            missing.append("torch2trt (github.com/NVIDIA-AI-IOT/torch2trt, ships with Jetson "
                           "containers)")
    return missing


def auto_backend() -> str:
    """`auto`'s choice: tensorrt when usable, else onnxruntime, else torch."""
    for backend in ("tensorrt", "onnxruntime"):
        if not missing_requirements(backend):
            return backend
    return "torch"


@lru_cache(maxsize=1)
def physical_cores() -> int:
    """Physical CPU cores available to this process (hyper-threads counted once)."""
    allowed = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    n_logical = len(allowed) if allowed else (os.cpu_count() or 1)
    try:
        cores, cpu, phys = set(), None, "0"
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                key, value = key.strip(), value.strip()
                if key == "processor":
                    cpu = int(value)
                elif key == "physical id":
                    phys = value
                elif key == "core id" and (allowed is None or cpu in allowed):
                    cores.add((phys, value))
        return max(1, min(len(cores), n_logical)) if cores else max(1, n_logical)
    except (OSError, ValueError):
        return max(1, n_logical)


def default_device() -> str:
    """"cuda" when torch sees a GPU, else "cpu"."""
    return "cuda" if cuda_available() else "cpu"
