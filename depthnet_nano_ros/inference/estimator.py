"""DepthEstimator: one API over torch, onnxruntime, TensorRT and torch2trt.

    est = DepthEstimator.create(checkpoint=None, engine=None, backend="auto", precision="fp32")
    pred = est.estimate(image_uint8_HxWx3, encoding="rgb8", focal_px=fx)  # HxW float32 metres

`focal_px` is the camera's horizontal focal length in pixels at the image's own resolution
(CameraInfo P[0]); the network's metric output refers to `est.reference_focal_px` (px at the
network input) and is rescaled by `model.focal.depth_scale` (`pred.depth_scale`).

Pre-processing (resize + ImageNet normalization) and the output -> metres conversion are the
model package's own functions, so every backend sees exactly what training saw.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from torch import nn

from depthnet_nano_ros.inference.availability import (
    auto_backend,
    missing_requirements,
)
from depthnet_nano_ros.inference.backends.base import Backend
from depthnet_nano_ros.inference.backends.ort_backend import CpuOptions
from depthnet_nano_ros.inference.errors import InferenceError
from depthnet_nano_ros.model.depth_param import output_to_depth_np
from depthnet_nano_ros.model.focal import depth_scale, kitti_reference_focal, network_focal_px
from depthnet_nano_ros.model.transforms import check_input_size, prepare_input, resize_depth

BACKEND_NAMES = ("auto", "torch", "onnxruntime", "tensorrt", "torch2trt")
PRECISIONS = ("fp32", "fp16", "int8")
ENCODINGS = ("rgb8", "bgr8")


@dataclass
class DepthPrediction:
    """Metric depth at the image's resolution plus per-stage wall times in milliseconds."""

    depth: np.ndarray
    timings_ms: dict[str, float] = field(default_factory=dict)
    #: Factor applied to the network's depth for the caller's focal length (1.0 = unscaled).
    depth_scale: float = 1.0


_log = logging.getLogger(__name__)


def _require_backend(backend: str) -> None:
    """InferenceError naming what `backend` lacks here and what `auto` would use."""
    missing = missing_requirements(backend)
    if missing:
        raise InferenceError(
            f"backend {backend!r} is not usable on this machine: missing {', '.join(missing)}; "
            f"backend 'auto' would use {auto_backend()!r} here"
        )


def _check_size(size: tuple[int, int] | None) -> tuple[int, int] | None:
    """Validate a requested network input size (multiples of 32)."""
    if size is None:
        return None
    try:
        return check_input_size(size)
    except ValueError as exc:
        raise InferenceError(str(exc)) from exc


class DepthEstimator:
    """A loaded network on one backend; `estimate` turns uint8 images into metres."""

    def __init__(self, engine: Backend, *, min_depth: float, max_depth: float,
                 model_hash: str = "", source: str = "",
                 reference_focal_px: float | None = None,
                 reference_width: int | None = None) -> None:
        """`reference_focal_px` None = unknown: KITTI camera 2 at `reference_width` is assumed."""
        self._engine = engine
        self.min_depth = float(min_depth)
        self.max_depth = float(max_depth)
        self.model_hash = model_hash
        self.source = source
        self.reference_focal_known = reference_focal_px is not None
        #: Network input width the reference focal is expressed at (the training width).
        self.reference_width = int(reference_width or engine.input_size[1])
        #: Focal length (px, at the network input it was trained at) the output refers to.
        self.reference_focal_px = (float(reference_focal_px) if reference_focal_px is not None
                                   else kitti_reference_focal(self.reference_width))
        self._noted: set[str] = set()

    @property
    def backend(self) -> str:
        """The backend actually used: torch | onnxruntime | tensorrt | torch2trt."""
        return self._engine.name

    @property
    def input_size(self) -> tuple[int, int]:
        """Network input (height, width)."""
        return self._engine.input_size

    @property
    def cpu_settings(self) -> dict[str, int | bool | str]:
        """onnxruntime CPU threads, spinning and graph path in effect ({} off onnxruntime CPU)."""
        on_cpu = getattr(self._engine, "providers", [None])[0] == "CPUExecutionProvider"
        return dict(getattr(self._engine, "cpu_settings", {})) if on_cpu else {}

    @property
    def engine(self) -> Backend:
        """The backend object (for benchmarks and profiling)."""
        return self._engine

    @classmethod
    def create(cls, checkpoint: str | Path | None = None, engine: str | Path | None = None,
               backend: str = "auto", precision: str = "fp32",
               input_size: tuple[int, int] | None = None, *, cpu_threads: int | None = None,
               cpu_spin: bool | None = None) -> DepthEstimator:
        """Load from a checkpoint (default: the reference one) or an exported engine.

        `cpu_threads`/`cpu_spin` set onnxruntime's CPU threading (None: one thread per
        physical core, spinning workers; or $DEPTHNET_NANO_THREADS / $DEPTHNET_NANO_SPIN).
        """
        if backend not in BACKEND_NAMES:
            raise InferenceError(f"unknown backend {backend!r}; choose one of {BACKEND_NAMES}")
        if precision not in PRECISIONS:
            raise InferenceError(f"unknown precision {precision!r}; choose one of {PRECISIONS}")
        if backend != "auto":
            _require_backend(backend)
        size = _check_size(input_size)
        cpu = CpuOptions(cpu_threads, cpu_spin)
        if engine is not None:
            from depthnet_nano_ros.inference.loaders import from_engine

            return from_engine(cls, Path(engine), checkpoint, backend, precision, size, cpu)
        from depthnet_nano_ros.inference.loaders import from_checkpoint

        return from_checkpoint(cls, checkpoint, backend, precision, size, cpu)

    @classmethod
    def from_model(cls, model: nn.Module, input_size: tuple[int, int], backend: str = "auto",
                   precision: str = "fp32", *, min_depth: float = 1.0, max_depth: float = 80.0,
                   source: str = "in-memory model", cpu_threads: int | None = None,
                   cpu_spin: bool | None = None) -> DepthEstimator:
        """Put an in-memory network (e.g. during training, or a peer) on `backend`."""
        from depthnet_nano_ros.inference.loaders import from_model

        if backend not in BACKEND_NAMES or precision not in PRECISIONS:
            raise InferenceError(f"unknown backend {backend!r} or precision {precision!r}; "
                                 f"choose from {BACKEND_NAMES} and {PRECISIONS}")
        if backend != "auto":
            _require_backend(backend)
        size = _check_size(input_size)
        assert size is not None
        return from_model(cls, model, size, backend, precision, min_depth=min_depth,
                          max_depth=max_depth, source=source,
                          cpu=CpuOptions(cpu_threads, cpu_spin))

    def focal_scale(self, focal_px: float | None, image_width: int) -> float:
        """Depth factor for a camera with `focal_px` (px at `image_width`); 1.0 for None."""
        if focal_px is None:
            self._note_once("no-focal",
                            "no camera focal length given: depth is unscaled, i.e. metric only "
                            "for a camera with the training focal length "
                            f"({self.reference_focal_px:.1f} px at network width "
                            f"{self.reference_width}); pass focal_px (CameraInfo P[0])")
            return 1.0
        try:
            f_net = network_focal_px(focal_px, image_width, self.input_size[1])
            scale = depth_scale(f_net, self.reference_focal_px)
        except ValueError as exc:
            raise InferenceError(f"focal_px: {exc}") from exc
        if not self.reference_focal_known:
            self._note_once("unknown-reference",
                            f"{self.source} does not record its training focal length: assuming "
                            f"KITTI camera 2 ({self.reference_focal_px:.1f} px at network width "
                            f"{self.reference_width}) for the metric rescaling")
        return scale

    def _note_once(self, what: str, text: str) -> None:
        """Log `text` the first time this estimator meets situation `what`."""
        if what not in self._noted:
            self._noted.add(what)
            _log.info(text)

    def estimate(self, image: np.ndarray, encoding: str = "rgb8",
                 focal_px: float | None = None) -> DepthPrediction:
        """HxWx3 uint8 image (rgb8 or bgr8) -> HxW float32 depth in metres + timings.

        `focal_px`: the camera's fx in pixels at this image's resolution (None: unscaled).
        """
        t0 = time.perf_counter()
        if encoding not in ENCODINGS:
            raise InferenceError(f"unsupported encoding {encoding!r}; use one of {ENCODINGS} "
                                 "(convert other encodings with geometry.image_codec first)")
        if (not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3
                or image.dtype != np.uint8):
            desc = (f"shape {image.shape} dtype {image.dtype}" if isinstance(image, np.ndarray)
                    else type(image).__name__)
            raise InferenceError(f"expected an HxWx3 uint8 {encoding} image, got {desc}")
        scale = self.focal_scale(focal_px, image.shape[1])
        rgb = np.ascontiguousarray(image[..., ::-1]) if encoding == "bgr8" else image
        x = prepare_input(rgb, self.input_size)
        t1 = time.perf_counter()
        out = np.asarray(self._engine.run(x), dtype=np.float32)
        t2 = time.perf_counter()
        if out.ndim != 4 or out.shape[:2] != (1, 1) or min(out.shape) < 1:
            raise InferenceError(f"{self.source} returned output of shape {out.shape}, expected "
                                 "(1, 1, H, W) depth: it is not a depth model; export one with "
                                 "`depthnet_nano export`")
        depth = output_to_depth_np(out[0, 0], self.min_depth, self.max_depth)
        if scale != 1.0:
            depth *= np.float32(scale)
        depth = resize_depth(depth, image.shape[:2])
        t3 = time.perf_counter()
        return DepthPrediction(depth, {"preprocess": (t1 - t0) * 1e3,
                                       "inference": (t2 - t1) * 1e3,
                                       "postprocess": (t3 - t2) * 1e3}, scale)

    def __repr__(self) -> str:
        h, w = self.input_size
        return (f"DepthEstimator(backend={self.backend!r}, input_size={h}x{w}, "
                f"source={self.source!r})")
