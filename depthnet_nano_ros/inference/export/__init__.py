"""Export: ONNX with metadata, TensorRT build, INT8 calibration, engine cache, quantization."""
