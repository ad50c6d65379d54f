"""The training loop on real data: optimizer steps, overfitting, DDP, checkpoints, ONNX, CLI."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from torch.utils.data import DataLoader

from depthnet_nano_ros.model.checkpoint import (
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
    state_sha256,
)
from depthnet_nano_ros.model.config import DepthNetNanoConfig
from depthnet_nano_ros.model.depth_param import output_to_depth, output_to_depth_np
from depthnet_nano_ros.model.depthnet_nano import DepthNetNano
from depthnet_nano_ros.training.config import TrainConfig
from depthnet_nano_ros.training.datasets import ArrayFrame, build_frames
from depthnet_nano_ros.training.errors import TrainingError
from depthnet_nano_ros.training.trainer import Trainer
from depthnet_nano_ros.training.validation import validate

REPO = Path(__file__).resolve().parent.parent
SIZE = (64, 224)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _cfg(tmp_path: Path, **kw) -> TrainConfig:
    base = {"out_dir": str(tmp_path / "run"), "input_size": SIZE, "batch_size": 2,
            "augment": False, "progress": False, "resume": False, "image_every_steps": 0}
    return TrainConfig(**{**base, **kw})


def _kitti_frames(date_dir: Path, frames: list[int]):
    return build_frames({"kind": "kitti_raw", "root": str(date_dir.parent), "target": "lidar",
                         "drives": ["2011_09_26/2011_09_26_drive_0005_sync"], "frames": frames})


def _batch_loss(trainer: Trainer, batch: dict[str, torch.Tensor]) -> float:
    trainer.model.train()
    with torch.no_grad():
        loss, _ = trainer.loss_fn(trainer.model(batch["image"]), batch["target"], batch["mask"])
    return float(loss)


def test_one_optimizer_step_lowers_the_loss_on_a_fixed_batch(kitti_date_dir, tmp_path):
    trainer = Trainer(_cfg(tmp_path, lr=5e-5), _kitti_frames(kitti_date_dir, [10, 13]))
    batch = next(iter(DataLoader(trainer.train_ds, batch_size=2)))
    before = _batch_loss(trainer, batch)
    weights = [p.detach().clone() for p in trainer.model.parameters()]
    trainer.train_step(batch)
    after = _batch_loss(trainer, batch)
    assert trainer.step == 1
    assert any(not torch.equal(w, p) for w, p in zip(weights, trainer.model.parameters(),
                                                     strict=True))
    assert after < before, f"loss went from {before:.4f} to {after:.4f}"


def test_overfitting_two_frames_reaches_abs_rel_below_5_percent(kitti_date_dir, tmp_path):
    # Densified lidar (the paper's dense targets), solved at quarter resolution for speed.
    frames = build_frames({"kind": "kitti_raw", "root": str(kitti_date_dir.parent),
                           "drives": ["2011_09_26/2011_09_26_drive_0005_sync"],
                           "frames": [10, 13], "target": "densified",
                           "densify_size": [94, 310]}, cache_dir=tmp_path / "cache")
    trainer = Trainer(_cfg(tmp_path, lr=1e-3, input_size=(32, 96)), frames, frames)
    batch = next(iter(DataLoader(trainer.train_ds, batch_size=2)))
    first = validate(trainer.model, trainer.val_ds, trainer.device)
    for _ in range(250):
        trainer.train_step(batch)
    metrics = validate(trainer.model, trainer.val_ds, trainer.device)  # eval mode, as deployed
    assert first["abs_rel"] > 0.5 and metrics["abs_rel"] < 0.05, (first, metrics)


def _ddp_worker(rank: int, world: int, port: int, out: str) -> None:
    """One rank of a 2-process gloo DDP run: one step on its shard, then dump its weights."""
    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
                       "RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank)})
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    frames = [ArrayFrame(rng.integers(0, 255, (40, 120, 3), dtype=np.uint8),
                         rng.uniform(2, 60, (40, 120)).astype(np.float32)) for _ in range(4)]
    cfg = TrainConfig(out_dir=str(Path(out) / "run"), input_size=(32, 96), batch_size=2,
                      max_steps=1, augment=False, progress=False, resume=False, lr=1e-3,
                      image_every_steps=0)  # the trainer seeds init with seed + rank
    trainer = Trainer(cfg, frames)
    assert trainer.net is not trainer.model  # wrapped in DistributedDataParallel
    first = trainer.sampler.__iter__().__next__()
    trainer.fit()
    torch.save({"state": trainer.model.state_dict(), "first_index": first},
               Path(out) / f"rank{rank}.pt")
    trainer.close()


def test_ddp_two_processes_on_cpu_end_with_the_same_weights(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_ddp_worker, args=(2, port, str(tmp_path)), nprocs=2, join=True)
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert r0["first_index"] != r1["first_index"], "both ranks trained on the same sample"
    init = DepthNetNano(DepthNetNanoConfig()).state_dict()
    params = {n for n, _ in DepthNetNano().named_parameters()}
    for name in params:
        assert torch.equal(r0["state"][name], r1["state"][name]), name
    assert any(not torch.equal(r0["state"][n], init[n]) for n in params)
    assert (tmp_path / "run" / "last.pt").is_file()  # rank 0 wrote the checkpoint


def test_checkpoint_exports_to_onnx_with_the_same_depth(kitti_date_dir, tmp_path):
    import onnxruntime as ort

    from depthnet_nano_ros.inference.export.onnx import export_onnx_bytes

    trainer = Trainer(_cfg(tmp_path, lr=1e-3), _kitti_frames(kitti_date_dir, [10, 13]))
    batch = next(iter(DataLoader(trainer.train_ds, batch_size=2)))
    for _ in range(2):  # non-trivial BatchNorm statistics
        trainer.train_step(batch)
    path = trainer.save("exported.pt")
    model, info = load_checkpoint(path)
    assert info.input_size == SIZE and info.train_config["lr"] == pytest.approx(1e-3)
    assert info.extra["step"] == 2
    session = ort.InferenceSession(export_onnx_bytes(model, SIZE),
                                   providers=["CPUExecutionProvider"])
    image = batch["image"][:1]
    onnx_out = session.run(None, {session.get_inputs()[0].name: image.numpy()})[0]
    with torch.no_grad():
        torch_depth = output_to_depth(model(image)).numpy()
    np.testing.assert_allclose(output_to_depth_np(onnx_out), torch_depth, rtol=1e-3, atol=1e-3)


def test_corrupt_or_mismatched_checkpoints_give_clear_errors(tmp_path):
    frames = [ArrayFrame(np.zeros((32, 96, 3), np.uint8), np.full((32, 96), 10, np.float32))] * 2
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint at all")
    with pytest.raises(TrainingError, match="corrupt"):
        Trainer(_cfg(tmp_path, input_size=(32, 96), init_checkpoint=str(corrupt)), frames)
    good = save_checkpoint(tmp_path / "good.pt", DepthNetNano(), input_size=(32, 96))
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(truncated)
    small = DepthNetNano(DepthNetNanoConfig(stem_chs=8))
    other = save_checkpoint(tmp_path / "other.pt", small, input_size=(32, 96))
    with pytest.raises(TrainingError, match="different model config"):
        Trainer(_cfg(tmp_path, input_size=(32, 96), init_checkpoint=str(other)), frames)
    # Weights that do not fit the stored config (e.g. edited by hand).
    payload = torch.load(good, weights_only=True)
    payload["state_dict"] = small.state_dict()
    payload["weights_sha256"] = state_sha256(payload["state_dict"])  # re-hashed: not "corrupt"
    torch.save(payload, tmp_path / "mixed.pt")
    with pytest.raises(TrainingError, match="do not fit"):
        Trainer(_cfg(tmp_path, input_size=(32, 96), init_checkpoint=str(tmp_path / "mixed.pt")),
                frames)
    # A last.pt without training state cannot be resumed.
    run = tmp_path / "run"
    save_checkpoint(run / "last.pt", DepthNetNano(), input_size=(32, 96))
    with pytest.raises(TrainingError, match="no training state"):
        Trainer(_cfg(tmp_path, input_size=(32, 96), resume=True), frames)


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "depthnet_nano_ros.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300, env=env)


def test_train_tiny_config_on_the_synthetic_drive_runs_and_resumes(tmp_path):
    synth = tmp_path / "synth"
    done = _cli("synth-drive", str(synth), "--frames", "6", "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "tiny"
    args = ["train", "--config", str(REPO / "config" / "train_tiny.yaml"), "--no-progress",
            f"train.0.root={synth}", f"val.0.root={synth}", f"out_dir={out}"]
    done = _cli(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["steps"] == 4 and summary["epochs"] == 2  # 4 frames, batch 2, 2 epochs
    assert np.isfinite(summary["val"]["abs_rel"]) and summary["best"]["epoch"] >= 1
    model, info = load_checkpoint(out / "best.pt")
    assert info.metrics["abs_rel"] == summary["best"]["abs_rel"]
    assert info.train_config["train"][0]["target"] == "exact" and info.git_rev
    assert list((out / "tb").glob("events.out.tfevents.*"))
    # Resume: a third epoch continues from last.pt (step 4) instead of starting over.
    done = _cli(*args, "resume=true", "epochs=3", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["steps"] == 6
    # Bad data paths fail with the CLI's error line, not a traceback.
    done = _cli("train", "--config", str(REPO / "config" / "train_tiny.yaml"),
                f"train.0.root={tmp_path / 'missing'}", f"out_dir={out}", cwd=tmp_path)
    assert done.returncode == 2 and "data root" in done.stderr and "Traceback" not in done.stderr
