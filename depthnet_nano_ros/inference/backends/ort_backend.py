"""ONNX Runtime backend: CUDA provider when present, else a tuned CPU session."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from depthnet_nano_ros.inference.availability import ort_cuda_available, physical_cores
from depthnet_nano_ros.inference.errors import InferenceError


@dataclass(frozen=True)
class CpuOptions:
    """onnxruntime CPU threading; None = $DEPTHNET_NANO_THREADS / $DEPTHNET_NANO_SPIN defaults."""

    threads: int | None = None  # intra-op threads (default: one per physical core)
    spin: bool | None = None  # idle workers spin between ops (default: yes)

    def __post_init__(self) -> None:
        if self.threads is not None and (isinstance(self.threads, bool)
                                         or not isinstance(self.threads, int)
                                         or self.threads < 1):
            raise InferenceError(f"cpu threads={self.threads!r} must be a whole number >= 1 "
                                 "(or None for one per physical core)")


def spin_wait(spin: bool | None = None) -> bool:
    """Whether idle intra-op workers spin: `spin`, else $DEPTHNET_NANO_SPIN (0/1), else yes."""
    if spin is not None:
        return spin
    env = os.environ.get("DEPTHNET_NANO_SPIN", "").strip().lower()
    if env in ("", "1", "true", "yes", "on"):
        return True
    if env in ("0", "false", "no", "off"):
        return False
    raise InferenceError(f"DEPTHNET_NANO_SPIN={env!r} is not a boolean; set it to 1 (workers "
                         "spin between ops: lowest latency) or 0 (they sleep: kinder to a "
                         "busy CPU)")


def intra_op_threads(threads: int | None = None) -> int:
    """`threads`, else $DEPTHNET_NANO_THREADS, else one per physical core."""
    env = os.environ.get("DEPTHNET_NANO_THREADS", "")
    return threads or (int(env) if env.isdigit() else physical_cores())


def session_options(threads: int | None = None, profile_prefix: str | None = None,
                    spin: bool | None = None):
    """CPU session: all fusions incl. NCHWc layout, one intra-op thread per physical core."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3  # errors surface as exceptions; library code prints nothing
    so.intra_op_num_threads = intra_op_threads(threads)
    so.inter_op_num_threads = 1
    # Spinning workers (onnxruntime's default) pick up each of the ~2000 small ops at once;
    # sleeping ones must be woken per op. Idle 2-core machine, 384x1280, 2 threads: 85-89 ms
    # spinning vs 114-172 ms sleeping; the node too (8.9 vs 7.8 fps). Sleeping only pays when
    # other processes need the cores (DEPTHNET_NANO_SPIN=0).
    so.add_session_config_entry("session.intra_op.allow_spinning",
                                "1" if spin_wait(spin) else "0")
    if profile_prefix:
        so.enable_profiling = True
        so.profile_file_prefix = profile_prefix
    return so


def _cpu_variant(model_bytes: bytes, source: str | Path) -> bytes:
    """The CPU-tuned, numerically equivalent graph (see graph_opt); errors name the file."""
    from depthnet_nano_ros.inference.cpu.graph_opt import optimize_for_cpu

    try:
        return optimize_for_cpu(model_bytes)
    except Exception as exc:  # a graph the rewrite does not understand: name it
        raise InferenceError(f"cannot prepare {source} for onnxruntime CPU: {exc}; re-export "
                             "it with `depthnet_nano export --format onnx`") from exc


def _without_reorders(model_bytes: bytes, threads: int | None) -> tuple[bytes, str]:
    """onnxruntime's NCHWc model minus reorder round trips; the plain graph if that fails."""
    from depthnet_nano_ros.inference.cpu.graph_layout import ort_optimized_without_reorders

    try:
        return ort_optimized_without_reorders(model_bytes, session_options(threads)), "applied"
    except Exception as exc:  # an optional speed-up: onnxruntime still optimizes the graph
        return model_bytes, f"skipped ({type(exc).__name__}: {exc})"


def _fused_variant(model_bytes: bytes, threads: int) -> tuple[bytes | None, str, str | None]:
    """(graph on the fused CPU kernels, summary, isa), or (None, why the tuned graph, None)."""
    from depthnet_nano_ros.inference.cpu.kernels import choose_isa

    isa, reason = choose_isa()
    if isa is None:
        return None, reason, None
    from depthnet_nano_ros.inference.cpu.graph_fused import describe, fuse_for_cpu_kernels

    try:
        # row bands per module: one per thread, at least 2 (the output does not depend on it)
        fused, counts = fuse_for_cpu_kernels(model_bytes, nbands=max(2, threads))
    except Exception as exc:  # an optional speed-up: the tuned graph still runs
        return None, f"rewrite failed ({type(exc).__name__}: {exc})", None
    if not counts:
        return None, "graph has no DepthNet Nano EP modules", None
    return fused, describe(counts), isa


class OrtBackend:
    """An InferenceSession over a serialized ONNX model with a static 1x3xHxW input."""

    name = "onnxruntime"

    def __init__(self, model_bytes: bytes, input_size: tuple[int, int], *, source: str | Path,
                 threads: int | None = None, use_cuda: bool | None = None,
                 profile_prefix: str | None = None, cpu_rewrites: bool = True,
                 spin: bool | None = None) -> None:
        import onnxruntime as ort

        use_cuda = ort_cuda_available() if use_cuda is None else use_cuda
        self.layout_pass = "off"
        #: Which CPU graph runs: "fused-kernels <isa> (...)", "tuned-graph (why)", "stock-graph",
        #: "cuda"; cpu_isa: the kernels' instruction set (avx512 / avx2), None without them.
        self.cpu_path = "cuda" if use_cuda else "stock-graph"
        self.cpu_isa: str | None = None
        self.session = None
        if cpu_rewrites and not use_cuda:
            fused, why, isa = _fused_variant(model_bytes, intra_op_threads(threads))
            if fused is not None:
                self.session, why = self._fused_session(fused, why, isa, threads,
                                                        profile_prefix, spin)
            if self.session is None:
                self.cpu_path = f"tuned-graph ({why})"
                model_bytes = _cpu_variant(model_bytes, source)
                model_bytes, self.layout_pass = _without_reorders(model_bytes, threads)
        providers = (["CUDAExecutionProvider"] if use_cuda else []) + ["CPUExecutionProvider"]
        try:
            if self.session is None:
                self.session = ort.InferenceSession(
                    model_bytes, sess_options=session_options(threads, profile_prefix, spin),
                    providers=providers)
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            raise InferenceError(
                f"onnxruntime cannot load {source}: {str(exc).splitlines()[0]}; re-export it "
                "with `depthnet_nano export --format onnx`") from exc
        self.input_size = input_size
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name
        self.providers = self.session.get_providers()
        options = self.session.get_session_options()
        #: What the CPU provider runs with (for logs and diagnostics).
        self.cpu_settings = {
            "threads": options.intra_op_num_threads,
            "spin": options.get_session_config_entry("session.intra_op.allow_spinning") == "1",
            "path": self.cpu_path, "isa": self.cpu_isa}

    def _fused_session(self, fused: bytes, summary: str, isa: str, threads: int | None,
                       profile_prefix: str | None, spin: bool | None) -> tuple[object, str]:
        """(session on the fused kernels, "") or (None, why it could not be created)."""
        import onnxruntime as ort

        from depthnet_nano_ros.inference.cpu.kernels import library_path

        so = session_options(threads, profile_prefix, spin)
        try:
            so.register_custom_ops_library(str(library_path(isa)))
            session = ort.InferenceSession(fused, sess_options=so,
                                           providers=["CPUExecutionProvider"])
        except Exception as exc:  # e.g. an onnxruntime whose API the library does not know
            return None, f"fused kernels failed to load: {str(exc).splitlines()[0]}"
        self.cpu_path, self.cpu_isa = f"fused-kernels {isa} ({summary})", isa
        return session, ""

    def run(self, x: np.ndarray) -> np.ndarray:
        """(1,3,h,w) float32 -> (1,1,h,w) float32."""
        return self.session.run([self.output_name], {self.input_name: x})[0]

    def end_profiling(self) -> str:
        """Stop profiling and return the JSON trace file path."""
        return self.session.end_profiling()
