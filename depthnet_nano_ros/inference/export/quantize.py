"""int8 static quantization for onnxruntime (QDQ, per-channel weights) calibrated on real frames."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from depthnet_nano_ros.inference.errors import InferenceError
from depthnet_nano_ros.inference.export.onnx import INPUT_NAME


def quantize_int8(onnx_bytes: bytes, batches: list[np.ndarray], *,
                  method: str = "percentile") -> bytes:
    """QDQ int8 model (u8 activations, s8 per-channel weights) of the CPU-tuned graph."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    from depthnet_nano_ros.inference.cpu.graph_opt import optimize_for_cpu
    from depthnet_nano_ros.inference.export.onnx import set_metadata

    class Reader(CalibrationDataReader):
        """Feeds prepared frames to the calibrator."""

        def __init__(self) -> None:
            self.it = iter(batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            x = next(self.it, None)
            return None if x is None else {INPUT_NAME: x}

    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    if method not in methods:
        raise InferenceError(f"unknown calibration method {method!r}; use one of {list(methods)}")
    with tempfile.TemporaryDirectory(prefix="depthnet_quant_") as tmp:
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        model = onnx.load_from_string(optimize_for_cpu(onnx_bytes))
        meta = {p.key: p.value for p in model.metadata_props}
        onnx.save(model, src)
        quantize_static(str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        per_channel=True, calibrate_method=methods[method],
                        extra_options={"CalibPercentile": 99.999})
        out = onnx.load(dst)
    set_metadata(out, {**meta, "depthnet_nano.precision": "int8"})
    return out.SerializeToString()
