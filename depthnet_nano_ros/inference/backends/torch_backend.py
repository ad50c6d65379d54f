"""PyTorch backend: fp32 on CPU; on CUDA fp16 (when asked) and CUDA graphs."""

from __future__ import annotations

import copy
import os

import numpy as np
import torch
from torch import nn

from depthnet_nano_ros.inference.errors import InferenceError


class TorchBackend:
    """Runs the module eagerly; on CUDA captures a CUDA graph after warm-up when `cuda_graphs`."""

    name = "torch"

    def __init__(self, model: nn.Module, input_size: tuple[int, int], *, device: str = "cpu",
                 precision: str = "fp32", cuda_graphs: bool = True) -> None:
        if precision == "int8":
            raise InferenceError(
                "backend 'torch' has no int8 mode: use --precision int8 with onnxruntime "
                "(static quantization) or tensorrt"
            )
        if precision == "fp16" and device == "cpu":
            raise InferenceError(
                "backend 'torch' runs fp16 only on CUDA and no CUDA device is in use: "
                "use precision fp32 on CPU"
            )
        self.input_size = input_size
        self.device = torch.device(device)
        self.dtype = torch.float16 if precision == "fp16" else torch.float32
        # A copy: Module.to/.eval act in place and must not turn a caller's (training) model
        # into an fp16 / CUDA / eval-mode one.
        self.model = copy.deepcopy(model).to(self.device, self.dtype).eval()
        # DEPTHNET_NANO_CUDA_GRAPHS=0 turns graph capture off (e.g. to measure what it buys).
        cuda_graphs = cuda_graphs and os.environ.get("DEPTHNET_NANO_CUDA_GRAPHS", "1") != "0"
        self.use_graph = cuda_graphs and self.device.type == "cuda"
        self._graph: torch.cuda.CUDAGraph | None = None
        self._static_in: torch.Tensor | None = None
        self._static_out: torch.Tensor | None = None

    @torch.inference_mode()
    def _capture(self) -> None:
        """Warm up on a side stream, then capture one forward pass as a CUDA graph."""
        h, w = self.input_size
        self._static_in = torch.zeros((1, 3, h, w), device=self.device, dtype=self.dtype)
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(3):
                self.model(self._static_in)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._static_out = self.model(self._static_in)
        self._graph = graph

    @torch.inference_mode()
    def run(self, x: np.ndarray) -> np.ndarray:
        """(1,3,h,w) float32 -> (1,1,h,w) float32."""
        t = torch.from_numpy(x)
        if self.use_graph:
            if self._graph is None:
                self._capture()
            assert self._static_in is not None and self._static_out is not None
            self._static_in.copy_(t.to(self.device, self.dtype, non_blocking=True))
            self._graph.replay()
            out = self._static_out
        else:
            out = self.model(t.to(self.device, self.dtype))
        return out.float().cpu().numpy()
