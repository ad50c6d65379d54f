"""Benchmarks: latency of the backends, onnxruntime profiles, the peer networks, the GPU check."""
