"""ONNX export (operator allow-list, folding, metadata), bad artifacts, and the CLI commands."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from inference_helpers import SMALL, exported_onnx, kitti_frames, random_checkpoint
from PIL import Image

from depthnet_nano_ros import cli
from depthnet_nano_ros.inference import DepthEstimator, InferenceError
from depthnet_nano_ros.inference.cpu.graph_opt import optimize_for_cpu
from depthnet_nano_ros.inference.export.engine_cache import model_hash
from depthnet_nano_ros.inference.export.onnx import (
    ALLOWED_OPS,
    OPSET,
    disallowed_ops,
    load_onnx,
    onnx_input_size,
    onnx_metadata,
)
from depthnet_nano_ros.model import load_checkpoint


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DEPTHNET_NANO_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def test_exported_graph_is_tensorrt_friendly():
    proto = load_onnx(exported_onnx())  # runs onnx.checker
    ops = {n.op_type for n in proto.graph.node}
    assert not disallowed_ops(proto), f"ops outside the allow-list: {disallowed_ops(proto)}"
    assert ops <= ALLOWED_OPS and {"Conv", "Selu", "Concat", "Resize"} <= ops
    assert "BatchNormalization" not in ops  # folded into the PBEP projections
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= OPSET >= 17
    assert onnx_input_size(proto) == SMALL
    for node in proto.graph.node:
        if node.op_type == "Resize":
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            assert attrs["mode"] == b"linear"
            assert attrs.get("coordinate_transformation_mode", b"half_pixel") == b"half_pixel"
    meta = onnx_metadata(proto)
    model, _ = load_checkpoint(random_checkpoint())
    assert meta["model_hash"] == model_hash(model)
    assert (meta["input_height"], meta["input_width"]) == tuple(map(str, SMALL))


def _assert_same_function(original: bytes, rewritten: bytes, seed: int) -> None:
    """Both graphs give the same output on one random input (onnxruntime, as they are)."""
    import onnxruntime as ort

    x = np.random.default_rng(seed).standard_normal((1, 3, *SMALL)).astype(np.float32)
    outs = [ort.InferenceSession(blob, providers=["CPUExecutionProvider"]).run(
        None, {"image": x})[0] for blob in (original, rewritten)]
    np.testing.assert_allclose(outs[1], outs[0], rtol=1e-4, atol=1e-4 * np.abs(outs[0]).max())


def test_cpu_rewrite_removes_selu_and_keeps_the_function():
    data = exported_onnx().read_bytes()
    fast = onnx.load_from_string(optimize_for_cpu(data))
    onnx.checker.check_model(fast)
    assert "Selu" not in {n.op_type for n in fast.graph.node}
    _assert_same_function(data, fast.SerializeToString(), seed=0)


def test_cpu_session_layout_passes_keep_the_function(monkeypatch):
    """Padded depthwise widths, split head, NCHWc model without reorder round trips."""
    monkeypatch.setenv("DEPTHNET_NANO_CPU_KERNELS", "0")  # the tuned graph, not the fused one
    from depthnet_nano_ros.inference.backends.ort_backend import OrtBackend
    from depthnet_nano_ros.inference.cpu.graph_layout import (
        pad_depthwise_channels,
        split_single_output_conv,
    )

    data = exported_onnx().read_bytes()
    assert pad_depthwise_channels(onnx.load_from_string(data)) >= 4  # decoder EP widths
    assert split_single_output_conv(onnx.load_from_string(data)) == 1  # the depth head
    fast = OrtBackend(data, SMALL, source="test", use_cuda=False)
    plain = OrtBackend(data, SMALL, source="test", use_cuda=False, cpu_rewrites=False)
    assert fast.layout_pass == "applied" and plain.layout_pass == "off"
    x = np.random.default_rng(2).standard_normal((1, 3, *SMALL)).astype(np.float32)
    ref = plain.run(x)
    np.testing.assert_allclose(fast.run(x), ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


def test_row_strip_tiling_is_exact():
    """Tile every EP module (tiny strips: first/interior/last strip borders all exercised)."""
    from depthnet_nano_ros.inference.cpu.graph_opt import rewrite_selu
    from depthnet_nano_ros.inference.cpu.graph_tiling import tile_ep_chains

    data = exported_onnx().read_bytes()
    tiled = onnx.load_from_string(data)
    n_tiled = tile_ep_chains(tiled, min_pixels=1, strip_bytes=1)
    assert n_tiled > 50  # every PBEP and decoder EP module
    assert sum(n.op_type == "Slice" for n in tiled.graph.node) > 2 * n_tiled  # several strips
    rewrite_selu(tiled)
    onnx.checker.check_model(tiled)
    _assert_same_function(data, tiled.SerializeToString(), seed=1)


def test_bad_artifacts_give_clear_errors(tmp_path):
    good = exported_onnx().read_bytes()
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(good[: len(good) // 2])
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"\x08\x07garbage" * 100)
    for path in (truncated, corrupt):
        with pytest.raises(InferenceError, match="truncated or corrupt"):
            DepthEstimator.create(engine=path, backend="onnxruntime")
    with pytest.raises(InferenceError, match="does not exist"):
        DepthEstimator.create(engine=tmp_path / "missing.onnx", backend="onnxruntime")
    with pytest.raises(InferenceError, match="exported for input 96x320"):
        DepthEstimator.create(engine=exported_onnx(), backend="onnxruntime",
                              input_size=(128, 320))
    odd = tmp_path / "model.bin"
    odd.write_bytes(good)
    with pytest.raises(InferenceError, match="cannot tell the format"):
        DepthEstimator.create(engine=odd)
    with pytest.raises(InferenceError, match="needs --checkpoint"):
        DepthEstimator.create(engine=exported_onnx(), backend="torch")
    other = random_checkpoint(SMALL, seed=1)
    with pytest.raises(InferenceError, match="different weights"):
        DepthEstimator.create(other, exported_onnx(), backend="onnxruntime")


def test_export_and_predict_commands(tmp_path, kitti_drive_dir, capsys):
    onnx_path = exported_onnx()  # written by `depthnet_nano export --format onnx`
    assert onnx_input_size(load_onnx(onnx_path)) == SMALL
    capsys.readouterr()
    frames = [kitti_drive_dir / "image_02" / "data" / f"{i:010d}.png" for i in range(2)]
    out = tmp_path / "pred"
    rc = cli.main(["predict", *map(str, frames), "--engine", str(onnx_path), "--backend",
                   "onnxruntime", "--output", str(out)])
    assert rc == 0
    for frame, rgb in zip(frames, kitti_frames(kitti_drive_dir, 2), strict=True):
        depth = np.load(out / f"{frame.stem}.npy")
        assert depth.shape == rgb.shape[:2] and depth.dtype == np.float32
        png = np.asarray(Image.open(out / f"{frame.stem}.png"))
        assert png.shape == (*rgb.shape[:2], 3)
    assert cli.main(["export", "--format", "tensorrt", "--checkpoint",
                     str(random_checkpoint()), "--output", str(tmp_path / "x.engine")]) in (0, 2)
    err = capsys.readouterr().err
    if err:  # no TensorRT here: the error names what is missing and the alternative
        assert "tensorrt" in err.lower() and "--format onnx" in err


def test_bench_command_json_schema(tmp_path, capsys):
    rc = cli.main(["bench", "--backend", "torch", "--height", "64", "--width", "128", "--runs",
                   "2", "--warmup", "0", "--peers", "--json", "--checkpoint",
                   str(random_checkpoint())])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert isinstance(doc["machine"], dict) and doc["machine"]["physical_cores"] >= 1
    models = {r["model"] for r in doc["results"]}
    assert models == {"depthnet_nano", "densedepth", "fastdepth"}
    keys = {"model", "backend", "height", "width", "params", "macs", "median_ms", "p90_ms",
            "fps", "preprocess_ms", "postprocess_ms"}
    for r in doc["results"]:
        assert keys <= set(r)
        assert r["backend"] == "torch" and (r["height"], r["width"]) == (64, 128)
        assert r["p90_ms"] >= r["median_ms"] > 0 and r["fps"] > 0
    nano = next(r for r in doc["results"] if r["model"] == "depthnet_nano")
    dense = next(r for r in doc["results"] if r["model"] == "densedepth")
    assert dense["macs"] > 20 * nano["macs"] and dense["params"] > 20 * nano["params"]
    assert set(doc["speedup_vs_peers"]["torch"]) == {"densedepth", "fastdepth"}
