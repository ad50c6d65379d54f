"""TensorRT runtime (name-based API of TensorRT 8.5+ and 10): tensors by name, execute_async_v3
on a CUDA stream, device buffers allocated once (torch CUDA tensors, so no pycuda dependency)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from depthnet_nano_ros.inference.errors import InferenceError
from depthnet_nano_ros.inference.export.engine_cache import (
    content_problem,
    read_sidecar,
    require_match,
)

MACHINE_FIELDS = ("kind", "runtime", "device", "compute_capability")


class TrtBackend:
    """A deserialized engine with one static image input and one output."""

    name = "tensorrt"

    @classmethod
    def from_file(cls, path: str | Path, model_hash: str | None = None) -> TrtBackend:
        """Load an engine after checking its sidecar against this GPU, TensorRT (and model)."""
        from depthnet_nano_ros.inference.export.tensorrt import engine_key

        path = Path(path)
        if not path.is_file():
            raise InferenceError(f"TensorRT engine {path} does not exist: build it with "
                                 "`depthnet_nano export --format tensorrt`")
        meta = read_sidecar(path)
        size = tuple(meta.get("input_size", (0, 0))) if meta else (0, 0)
        expected = engine_key(model_hash or (meta or {}).get("model_hash", ""), size,
                              (meta or {}).get("precision", "fp32"))
        fields = MACHINE_FIELDS + (("model_hash",) if model_hash else ())
        require_match(path, meta, expected, fields)
        data = path.read_bytes()
        problem = content_problem(path, data, meta, require=False)  # old engines load
        if problem:
            raise InferenceError(f"{problem}; rebuild it with `depthnet_nano export --format "
                                 "tensorrt --output PATH`")
        return cls(data, meta or {}, source=path)

    def __init__(self, engine_bytes: bytes, metadata: dict[str, Any], *,
                 source: str | Path = "engine") -> None:
        import torch

        from depthnet_nano_ros.inference.export.tensorrt import import_tensorrt

        trt = import_tensorrt()
        self.metadata = metadata
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self.engine = self._runtime.deserialize_cuda_engine(engine_bytes)
        if self.engine is None:
            raise InferenceError(f"TensorRT could not deserialize {source} (corrupt, or built by "
                                 "another TensorRT version); rebuild it with depthnet_nano export")
        self.context = self.engine.create_execution_context()
        self.stream = torch.cuda.Stream()
        self.buffers: dict[str, torch.Tensor] = {}
        inputs, outputs = [], []
        for i in range(self.engine.num_io_tensors):
            name = self.engine.get_tensor_name(i)
            shape = tuple(self.engine.get_tensor_shape(name))
            if any(d < 0 for d in shape):
                raise InferenceError(f"{source}: tensor {name!r} has dynamic shape {shape}; "
                                     "build a static engine with `depthnet_nano export --format "
                                     "tensorrt`")
            dtype = torch.from_numpy(np.empty(0, trt.nptype(self.engine.get_tensor_dtype(name))))
            buf = torch.empty(shape, dtype=dtype.dtype, device="cuda")
            self.buffers[name] = buf
            self.context.set_tensor_address(name, buf.data_ptr())
            (inputs if self.engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
             else outputs).append(name)
        if len(inputs) != 1 or len(outputs) != 1:
            raise InferenceError(f"{source} has inputs {inputs} and outputs {outputs}; expected "
                                 "one image input and one depth output")
        self.input_name, self.output_name = inputs[0], outputs[0]
        in_shape = self.buffers[self.input_name].shape
        self.input_size = (int(in_shape[2]), int(in_shape[3]))
        self._host_out = torch.empty(self.buffers[self.output_name].shape, dtype=torch.float32,
                                     pin_memory=True)

    def run(self, x: np.ndarray) -> np.ndarray:
        """(1,3,h,w) float32 -> network output, via execute_async_v3 on our stream."""
        import torch

        with torch.cuda.stream(self.stream):
            self.buffers[self.input_name].copy_(torch.from_numpy(x), non_blocking=True)
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise InferenceError("TensorRT execute_async_v3 failed")
            self._host_out.copy_(self.buffers[self.output_name], non_blocking=True)
        self.stream.synchronize()
        return self._host_out.numpy().copy()
