"""Bad artifact files and arguments: one line naming the file, exit 2, nothing partial left."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from inference_helpers import SMALL, exported_onnx, random_checkpoint
from PIL import Image

from depthnet_nano_ros import cli
from depthnet_nano_ros.inference.errors import InferenceError
from depthnet_nano_ros.inference.export.engine_cache import (
    ArtifactKey,
    cache_path,
    content_problem,
    lookup,
    read_sidecar,
    write_artifact,
)
from depthnet_nano_ros.model import DepthNetNano, save_checkpoint
from depthnet_nano_ros.model.checkpoint import (
    REFERENCE_CHECKPOINT,
    CheckpointError,
    add_weights_hash,
    load_checkpoint,
)


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    """`depthnet_nano ARGV` in-process: (exit code, stdout, stderr)."""
    rc = cli.main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def _one_line_error(rc: int, err: str, command: str, *names: object) -> str:
    """Assert the CLI's bad-input contract and return the line."""
    lines = err.strip().splitlines()
    assert rc == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith(f"depthnet_nano {command}: error: "), err
    assert "Traceback" not in err
    for name in names:
        assert str(name) in lines[0], (name, lines[0])
    return lines[0]


def _flip_middle(src: Path, dst: Path, count: int = 1024) -> Path:
    """Copy `src` to `dst` with `count` bytes inverted in the middle of the file."""
    data = bytearray(src.read_bytes())
    mid = len(data) // 2
    data[mid:mid + count] = bytes(b ^ 0xFF for b in data[mid:mid + count])
    dst.write_bytes(bytes(data))
    return dst


@pytest.fixture()
def image(tmp_path) -> Path:
    path = tmp_path / "frame.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (96, 320, 3), np.uint8)).save(path)
    return path


def _foreign_onnx(path: Path, in_shape=(1, 3, *SMALL), out_dim: int = 10) -> Path:
    """A valid ONNX model that is not a depth model: image -> mean colour -> 1 x out_dim."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((in_shape[1], out_dim), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["image"], ["m"], axes=[2, 3], keepdims=0),
         helper.make_node("MatMul", ["m", "w"], ["output"])], "foreign",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, list(in_shape))],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, out_dim])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path


# -- checkpoints ----------------------------------------------------------------------------
def test_save_checkpoint_writes_a_weights_hash_and_old_checkpoints_still_load(tmp_path):
    info = load_checkpoint(random_checkpoint())[1]
    assert len(info.weights_sha256) == 64
    payload = torch.load(random_checkpoint(), weights_only=True)
    del payload["weights_sha256"]  # a checkpoint written before hashes existed
    old = tmp_path / "old.pt"
    torch.save(payload, old)
    assert load_checkpoint(old)[1].weights_sha256 == ""
    add_weights_hash(old)  # how an old checkpoint gets its hash, weights unchanged
    assert load_checkpoint(old)[1].weights_sha256 == info.weights_sha256
    load_checkpoint(REFERENCE_CHECKPOINT)  # whatever is shipped loads


def test_corrupt_checkpoint_is_refused_naming_the_file(tmp_path, capsys, image):
    bad = _flip_middle(random_checkpoint(), tmp_path / "flipped.pt")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(bad)
    out = tmp_path / "out"
    for argv in (["predict", str(image), "--output", str(out), "--checkpoint", str(bad)],
                 ["export", "--format", "onnx", "--checkpoint", str(bad), "--output",
                  str(tmp_path / "m.onnx")]):
        line = _one_line_error(*_run(capsys, *argv)[::2], argv[0], bad)
        assert "corrupt" in line and "re-train" in line
    assert not out.exists() and not (tmp_path / "m.onnx").exists()


def test_random_bytes_checkpoint_gives_one_line(tmp_path, capsys, image):
    bad = tmp_path / "random.pt"
    bad.write_bytes(np.random.default_rng(1).integers(0, 256, 4096, np.uint8).tobytes())
    out = tmp_path / "out"
    rc, _, err = _run(capsys, "predict", str(image), "--output", str(out), "--checkpoint",
                      str(bad))
    line = _one_line_error(rc, err, "predict", bad)
    assert "not a torch checkpoint" in line and "weights_only" not in line
    assert not out.exists()


# -- ONNX -------------------------------------------------------------------------------------
def test_corrupt_onnx_is_refused_naming_the_file(tmp_path, capsys, image):
    bad = _flip_middle(exported_onnx(), tmp_path / "flipped.onnx")
    out = tmp_path / "out"
    rc, _, err = _run(capsys, "predict", str(image), "--output", str(out), "--engine", str(bad))
    line = _one_line_error(rc, err, "predict", bad)
    assert "corrupt" in line and "depthnet_nano export" in line
    assert not out.exists()
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(exported_onnx().read_bytes()[:5000])
    rc, _, err = _run(capsys, "bench", "--engine", str(truncated), "--runs", "1")
    _one_line_error(rc, err, "bench", truncated)


@pytest.mark.parametrize("case", ["output 1x10", "input 1x1x64x64"])
def test_foreign_onnx_is_rejected_at_start_naming_the_file(tmp_path, capsys, image, case):
    shape = (1, 3, *SMALL) if case == "output 1x10" else (1, 1, 64, 64)
    foreign = _foreign_onnx(tmp_path / "foreign.onnx", shape)
    with pytest.raises(InferenceError, match="not a DepthNet Nano depth model"):
        from depthnet_nano_ros.inference.estimator import DepthEstimator

        DepthEstimator.create(engine=foreign, backend="onnxruntime")
    out = tmp_path / "out"
    rc, _, err = _run(capsys, "predict", str(image), "--output", str(out), "--engine",
                      str(foreign))
    line = _one_line_error(rc, err, "predict", foreign)
    assert ("output" if case == "output 1x10" else "input") in line
    assert not out.exists()


def test_corrupt_cached_onnx_is_rebuilt(tmp_path, monkeypatch):
    from depthnet_nano_ros.inference.estimator import DepthEstimator

    monkeypatch.setenv("DEPTHNET_NANO_CACHE", str(tmp_path / "cache"))
    first = DepthEstimator.create(checkpoint=random_checkpoint(), backend="onnxruntime")
    img = np.random.default_rng(2).integers(0, 256, (96, 320, 3), np.uint8)
    want = first.estimate(img).depth
    (cached,) = (tmp_path / "cache" / "onnx").glob("*.onnx")
    size = cached.stat().st_size
    for damage in ("truncate", "flip"):
        if damage == "truncate":
            cached.write_bytes(cached.read_bytes()[: size // 3])
        else:
            _flip_middle(cached, cached)
        est = DepthEstimator.create(checkpoint=random_checkpoint(), backend="onnxruntime")
        np.testing.assert_allclose(est.estimate(img).depth, want, rtol=1e-5)
        assert cached.stat().st_size == size and content_problem(
            cached, cached.read_bytes(), read_sidecar(cached)) is None, damage


def test_engine_sidecar_hash_catches_corruption(tmp_path):
    key = ArtifactKey("tensorrt", "ab" * 32, SMALL, "fp16", "tensorrt-10.3.0", "Orin", "8.7")
    path = write_artifact(cache_path(key, ".engine", tmp_path), b"engine" * 100, key)
    assert read_sidecar(path)["sha256"] and lookup(key, ".engine", tmp_path) == path
    _flip_middle(path, path, 4)
    assert "corrupt" in content_problem(path, path.read_bytes(), read_sidecar(path))
    assert lookup(key, ".engine", tmp_path) is None and not path.exists()
    old = {k: v for k, v in read_sidecar(write_artifact(path, b"e", key)).items()
           if k != "sha256"}  # a sidecar from before hashes: a user's engine still loads
    assert content_problem(path, b"e", old, require=False) is None
    assert "no content hash" in content_problem(path, b"e", old)


def test_bench_engine_uses_the_engines_own_size(capsys):
    rc, out, err = _run(capsys, "bench", "--engine", str(exported_onnx()), "--runs", "1",
                        "--warmup", "0")
    assert rc == 0, err
    assert f"{SMALL[0]}x{SMALL[1]}" in out and "was requested" not in err


# -- output paths and inputs --------------------------------------------------------------------
def test_predict_output_naming_an_existing_file(tmp_path, capsys, image):
    taken = tmp_path / "taken.txt"
    taken.write_text("keep me")
    rc, _, err = _run(capsys, "predict", str(image), "--output", str(taken), "--checkpoint",
                      str(random_checkpoint()))
    _one_line_error(rc, err, "predict", taken)
    assert taken.read_text() == "keep me"


def test_export_output_naming_a_directory(tmp_path, capsys):
    folder = tmp_path / "folder"
    folder.mkdir()
    rc, _, err = _run(capsys, "export", "--format", "onnx", "--checkpoint",
                      str(random_checkpoint()), "--output", str(folder))
    assert "is a directory" in _one_line_error(rc, err, "export", folder)
    assert list(folder.iterdir()) == []


def test_predict_unreadable_image_leaves_no_output_folder(tmp_path, capsys, image):
    broken = tmp_path / "broken.png"
    broken.write_bytes(image.read_bytes()[:200])  # a truncated PNG
    out = tmp_path / "out"
    rc, _, err = _run(capsys, "predict", str(image), str(broken), "--output", str(out),
                      "--checkpoint", str(random_checkpoint()))
    _one_line_error(rc, err, "predict", broken)
    assert not out.exists()


def test_garbage_bag_metadata_gives_one_line(tmp_path, capsys):
    bag = tmp_path / "bag"
    bag.mkdir()
    (bag / "metadata.yaml").write_text("rosbag2_bagfile_information:\n  version: [[[\n  : : :\n")
    rc, _, err = _run(capsys, "evaluate", str(bag))
    _one_line_error(rc, err, "evaluate", bag)


# -- the CLI wrapper --------------------------------------------------------------------------
def test_os_errors_are_one_line_unless_debugging(tmp_path, monkeypatch, capsys, image):
    """An OSError no library check anticipates (an output folder below a file) -> one line."""
    taken = tmp_path / "taken.txt"
    taken.write_text("keep me")
    argv = ["predict", str(image), "--output", str(taken / "sub"), "--checkpoint",
            str(random_checkpoint())]
    line = _one_line_error(*_run(capsys, *argv)[::2], "predict", taken)
    assert "NotADirectoryError" in line or "FileExistsError" in line
    monkeypatch.setenv("DEPTHNET_NANO_DEBUG", "1")  # the traceback, for bug reports
    with pytest.raises(OSError):
        cli.main(argv)


def test_random_bytes_checkpoint_in_a_real_process(tmp_path):
    """The same contract seen from a shell: stderr is one line, no Python warnings either."""
    bad = tmp_path / "random.pt"
    bad.write_bytes(os.urandom(10_000))
    proc = subprocess.run([sys.executable, "-m", "depthnet_nano_ros.cli", "export", "--format",
                           "onnx", "--checkpoint", str(bad), "--output", str(tmp_path / "m.onnx")],
                          capture_output=True, text=True, timeout=300)
    _one_line_error(proc.returncode, proc.stderr, "export", bad)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["random.pt"]


def test_weights_hash_ignores_storage_dtype_round_trip(tmp_path):
    torch.manual_seed(3)
    path = save_checkpoint(tmp_path / "half.pt", DepthNetNano(), input_size=SMALL, half=True)
    model, info = load_checkpoint(path)  # the fp16 weights' hash verifies
    assert info.weights_sha256 and model.training is False
