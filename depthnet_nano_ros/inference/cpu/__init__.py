"""The CPU path: ONNX graph rewrites for onnxruntime, the loader of the fused kernels."""
