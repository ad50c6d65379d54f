"""torch2trt backend (Jetson): torch2trt(model, [x], fp16_mode=...), TRTModule state files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from depthnet_nano_ros.fileio import atomic_write_bytes
from depthnet_nano_ros.inference.errors import InferenceError
from depthnet_nano_ros.inference.export.engine_cache import require_match

FORMAT = "depthnet_nano_torch2trt"
MACHINE_FIELDS = ("runtime", "device", "compute_capability")


def concat_dense_stages(model: nn.Module) -> nn.Module:
    """Use the concatenating DenseStage forward (what converters can trace) on a copy."""
    from depthnet_nano_ros.inference.backends.trace_modules import with_concat_stages
    from depthnet_nano_ros.inference.export.onnx import fold_batchnorm

    return with_concat_stages(fold_batchnorm(model))


class Torch2trtBackend:
    """A TRTModule built by torch2trt, with the key it was built under."""

    name = "torch2trt"

    def __init__(self, module: nn.Module, input_size: tuple[int, int],
                 metadata: dict[str, Any]) -> None:
        self.module = module
        self.input_size = input_size
        self.metadata = metadata

    @staticmethod
    def _key(model_hash: str, input_size: tuple[int, int], precision: str):
        """Same key as a TensorRT engine, tagged torch2trt."""
        import tensorrt as trt

        from depthnet_nano_ros.inference.export.engine_cache import ArtifactKey
        from depthnet_nano_ros.inference.export.tensorrt import device_identity

        gpu, cc = device_identity()
        return ArtifactKey("torch2trt", model_hash, tuple(input_size), precision,
                           f"tensorrt-{trt.__version__}", gpu, cc)

    @classmethod
    def from_model(cls, model: nn.Module, input_size: tuple[int, int], *, precision: str = "fp32",
                   metadata: dict[str, Any] | None = None) -> Torch2trtBackend:
        """Convert with torch2trt (`fp16_mode` for fp16; fp32 otherwise; no int8)."""
        if precision == "int8":  # torch2trt would calibrate int8 on the all-zeros example input
            raise InferenceError("torch2trt int8 is not supported here (it would calibrate on "
                                 "a blank frame); use backend 'tensorrt' with precision int8 "
                                 "(entropy calibration on real frames)")
        from torch2trt import torch2trt

        from depthnet_nano_ros.inference.export.engine_cache import model_hash

        h, w = input_size
        net = concat_dense_stages(model).cuda().eval()
        x = torch.zeros(1, 3, h, w, device="cuda")
        module = torch2trt(net, [x], fp16_mode=precision == "fp16", max_workspace_size=1 << 30)
        key = cls._key(model_hash(model), input_size, precision)
        return cls(module, input_size, {**(metadata or {}), **key.to_dict()})

    def save(self, path: str | Path) -> Path:
        """Write the TRTModule state and its key atomically."""
        import io

        from depthnet_nano_ros.model.checkpoint import state_sha256

        state = self.module.state_dict()
        buf = io.BytesIO()
        torch.save({"format": FORMAT, "metadata": self.metadata, "state_dict": state,
                    "sha256": state_sha256(state)}, buf)
        return atomic_write_bytes(Path(path), buf.getvalue())

    @classmethod
    def load(cls, path: str | Path, model_hash: str | None = None) -> Torch2trtBackend:
        """Load a saved TRTModule after checking it was built here (and from this model)."""
        from torch2trt import TRTModule

        path = Path(path)
        try:  # TRTModule state holds the engine as bytes plus names: not weights-only
            payload = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:
            raise InferenceError(f"{path} is not a readable torch2trt state file: {exc}") from exc
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise InferenceError(f"{path} is not a depthnet_nano torch2trt file; create one with "
                                 "`depthnet_nano export --format torch2trt`")
        from depthnet_nano_ros.model.checkpoint import state_sha256

        if payload.get("sha256") and state_sha256(payload["state_dict"]) != payload["sha256"]:
            raise InferenceError(f"{path} is corrupt: its engine does not match the sha256 "
                                 "recorded when it was saved; rebuild it with `depthnet_nano "
                                 "export --format torch2trt --output PATH`")
        meta = payload["metadata"]
        size = tuple(meta["input_size"])
        expected = cls._key(model_hash or meta.get("model_hash", ""), size, meta["precision"])
        require_match(path, meta, expected, MACHINE_FIELDS + (("model_hash",) if model_hash
                                                              else ()))
        module = TRTModule()
        module.load_state_dict(payload["state_dict"])
        return cls(module, size, meta)  # type: ignore[arg-type]

    @torch.inference_mode()
    def run(self, x: np.ndarray) -> np.ndarray:
        """(1,3,h,w) float32 -> network output."""
        return self.module(torch.from_numpy(x).cuda()).float().cpu().numpy()
