"""ONNX export: static shape, opset 17, BatchNorm folded, TensorRT-parser-friendly operators.

The graph comes from torch's dynamo exporter (clean: no Identity/Shape plumbing) and carries
its provenance in ``metadata_props`` (model hash, input size, depth range, reference focal
length), which the estimator reads back so an exported file is self-describing, and the sha256
of its serialized graph (``graph_sha256``), verified on load so a corrupted file is refused.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import logging
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from depthnet_nano_ros.errors import brief
from depthnet_nano_ros.fileio import atomic_write_bytes
from depthnet_nano_ros.inference.errors import InferenceError
from depthnet_nano_ros.inference.export.engine_cache import EXPORT_VERSION

OPSET = 17
INPUT_NAME = "image"
OUTPUT_NAME = "output"
META_PREFIX = "depthnet_nano."
#: Operators TensorRT's ONNX parser supports and the exported graphs may contain.
ALLOWED_OPS = frozenset({
    "Conv", "Selu", "Relu", "Concat", "Resize", "AveragePool", "MaxPool", "Add", "Mul",
    "BatchNormalization", "Clip", "Sigmoid", "Slice", "Split", "Pad", "Identity",
    "QuantizeLinear", "DequantizeLinear",
})


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of `model` with each conv -> BatchNorm pair (PBEP projections) fused into the conv."""
    model = copy.deepcopy(model).eval()
    for module in model.modules():
        conv, bn = getattr(module, "project_in", None), getattr(module, "bn", None)
        if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
            module.project_in = fuse_conv_bn_eval(conv, bn)
            module.bn = nn.Identity()
    return model


@contextlib.contextmanager
def _quiet_exporter():
    """Silence the exporter's prints, warnings and log lines (library code never prints)."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with (warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()),
              contextlib.redirect_stderr(io.StringIO())):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def export_onnx_bytes(model: nn.Module, input_size: tuple[int, int],
                      metadata: dict[str, Any] | None = None) -> bytes:
    """Serialized ONNX model of `model` at 1x3xHxW, BatchNorm folded, checked, with metadata."""
    import onnx

    h, w = input_size
    model = fold_batchnorm(model.float().cpu())
    x = torch.zeros(1, 3, h, w)
    try:
        with _quiet_exporter(), torch.inference_mode(False), torch.no_grad():
            program = torch.onnx.export(
                model, (x,), None, dynamo=True, opset_version=OPSET, input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME], external_data=False, optimize=True,
            )
        proto = program.model_proto
    except Exception as exc:  # the exporter raises many types
        raise InferenceError(f"ONNX export of {type(model).__name__} failed: {exc}") from exc
    meta = {"format_version": EXPORT_VERSION, "input_height": h, "input_width": w,
            "model": type(model).__name__, **(metadata or {})}
    del proto.metadata_props[:]
    set_metadata(proto, {META_PREFIX + k: str(v) for k, v in meta.items()
                         if v is not None})
    proto.producer_name = "depthnet_nano_ros"
    onnx.checker.check_model(proto, full_check=True)
    return proto.SerializeToString()


def graph_sha256(proto) -> str:
    """sha256 of the serialized graph (nodes, initializers, inputs and outputs)."""
    return hashlib.sha256(proto.graph.SerializeToString(deterministic=True)).hexdigest()


def set_metadata(proto, entries: dict[str, str]) -> None:
    """Replace `proto`'s metadata_props with `entries` plus the graph's sha256."""
    del proto.metadata_props[:]
    for k, v in {**entries, META_PREFIX + "graph_sha256": graph_sha256(proto)}.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, str(v)


def export_onnx(model: nn.Module, path: str | Path, input_size: tuple[int, int],
                metadata: dict[str, Any] | None = None) -> Path:
    """Export to `path` atomically; returns the path."""
    return atomic_write_bytes(Path(path), export_onnx_bytes(model, input_size, metadata))


def load_onnx(path: str | Path):
    """Read and check an ONNX file, with errors naming the file and the fix."""

    path = Path(path)
    if not path.is_file():
        raise InferenceError(f"ONNX model {path} does not exist: export one with "
                             "`depthnet_nano export --format onnx --output PATH`")
    try:
        proto = parse_onnx(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise InferenceError(f"ONNX model {path} is truncated or corrupt ({exc}); re-export it "
                             "with `depthnet_nano export --format onnx --output PATH`") from exc
    return proto


def parse_onnx(data: bytes):
    """Parse and check serialized ONNX; ValueError (one line) when corrupt or hash-mismatched."""
    import onnx

    try:
        proto = onnx.load_from_string(data)
        onnx.checker.check_model(proto)
    except Exception as exc:  # DecodeError, ValidationError, ...
        raise ValueError(brief(exc)) from exc
    if not proto.graph.node:
        raise ValueError("empty graph")
    want = onnx_metadata(proto).get("graph_sha256")
    if want is not None and graph_sha256(proto) != want:
        raise ValueError("its graph does not match the sha256 recorded at export")
    return proto


def onnx_metadata(proto) -> dict[str, str]:
    """The depthnet_nano.* metadata of an exported model (prefix stripped)."""
    return {p.key[len(META_PREFIX):]: p.value for p in proto.metadata_props
            if p.key.startswith(META_PREFIX)}


def _dims(value_info) -> list[int | str | None]:
    """Dimensions of a graph input/output (int, symbolic name, or None)."""
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
            for d in value_info.type.tensor_type.shape.dim]


def onnx_input_size(proto, path: str | Path = "ONNX model") -> tuple[int, int]:
    """Static (h, w) of a depth model: one 1x3xHxW input, one 1x1xHxW output; else InferenceError.

    `path` names the file in the error.
    """
    inits = {i.name for i in proto.graph.initializer}
    inputs = [i for i in proto.graph.input if i.name not in inits]
    outputs = list(proto.graph.output)
    fix = "it is not a DepthNet Nano depth model; export one with `depthnet_nano export`"
    if len(inputs) != 1 or len(outputs) != 1:
        raise InferenceError(f"{path} has {len(inputs)} inputs and {len(outputs)} outputs; "
                             f"expected one image input and one depth output: {fix}")
    dims, out = _dims(inputs[0]), _dims(outputs[0])
    if len(dims) != 4 or dims[0] != 1 or dims[1] != 3 or not all(
            isinstance(d, int) and d > 0 for d in dims[2:]):
        raise InferenceError(f"{path}: input {inputs[0].name!r} has shape {dims}; expected a "
                             f"static 1x3xHxW image: {fix}")
    h, w = int(dims[2]), int(dims[3])
    if out != [1, 1, h, w]:
        raise InferenceError(f"{path}: output {outputs[0].name!r} has shape {out}; expected "
                             f"[1, 1, {h}, {w}] (depth at the input size): {fix}")
    return h, w


def disallowed_ops(proto, allowed: frozenset[str] = ALLOWED_OPS) -> set[str]:
    """Operators in the graph outside the TensorRT-friendly allow-list."""
    return {n.op_type for n in proto.graph.node} - allowed


def onnx_runtime_tag() -> str:
    """What an exported graph depends on besides the weights: exporter and export passes."""
    return f"torch-{torch.__version__}-opset{OPSET}-export{EXPORT_VERSION}"


def cached_onnx_bytes(model: nn.Module, input_size: tuple[int, int], model_hash: str,
                      metadata: dict[str, Any] | None = None) -> bytes:
    """The model's fp32 ONNX export from the artifact cache, exporting (and caching) on a miss."""
    from depthnet_nano_ros.inference.export.engine_cache import ArtifactKey, lookup, write_artifact

    key = ArtifactKey("onnx", model_hash, tuple(input_size), "fp32", onnx_runtime_tag())
    hit = lookup(key, ".onnx")  # a stale or corrupt entry is deleted there: rebuilt below
    if hit is not None:
        try:
            return hit.read_bytes()
        except OSError:
            pass
    data = export_onnx_bytes(model, input_size, {"model_hash": model_hash, **(metadata or {})})
    try:
        from depthnet_nano_ros.inference.export.engine_cache import cache_path

        write_artifact(cache_path(key, ".onnx"), data, key)
    except OSError:
        pass  # a read-only cache only costs a re-export next time
    return data
