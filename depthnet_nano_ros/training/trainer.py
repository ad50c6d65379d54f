"""The training loop: data, Adam, the recipe's loss, DDP, mixed precision, checkpoints, logging.

Run under ``torchrun --nproc_per_node=N`` it uses DistributedDataParallel (nccl on GPU, gloo on
CPU); rank 0 validates, writes checkpoints (``last.pt`` for resuming, ``best.pt`` by validation)
and TensorBoard logs (``<out_dir>/tb``).
"""

from __future__ import annotations

import math
import os
import subprocess
import time
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

from depthnet_nano_ros.model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from depthnet_nano_ros.model.config import DepthNetNanoConfig
from depthnet_nano_ros.model.depthnet_nano import DepthNetNano
from depthnet_nano_ros.model.focal import kitti_reference_focal
from depthnet_nano_ros.training.augment import AugmentConfig
from depthnet_nano_ros.training.bag_dataset import BagFrame
from depthnet_nano_ros.training.config import TrainConfig
from depthnet_nano_ros.training.datasets import ArrayFrame, DepthDataset, FrameRef, build_frames
from depthnet_nano_ros.training.errors import TrainingError
from depthnet_nano_ros.training.losses import DepthLoss, LossWeights
from depthnet_nano_ros.training.validation import HIGHER_IS_BETTER, validate

__all__ = ["Trainer", "git_revision", "publish"]

Frame = FrameRef | ArrayFrame | BagFrame


def git_revision() -> str | None:
    """`git describe`-like revision of this package's checkout (None outside git)."""
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "-C", str(here), "rev-parse", "--short=12", "HEAD"],
                             capture_output=True, text=True, timeout=10, check=True).stdout
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, text=True,
                               timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return rev.strip() + ("-dirty" if dirty else "")


class _Dist:
    """Process-group facts from torchrun's environment (single process without it)."""

    def __init__(self) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.cuda = torch.cuda.is_available()
        self.device = torch.device(f"cuda:{self.local_rank}" if self.cuda else "cpu")
        self.owns_group = False
        if self.world > 1 and not dist.is_initialized():
            if self.cuda:
                torch.cuda.set_device(self.device)
            dist.init_process_group("nccl" if self.cuda else "gloo")
            self.owns_group = True

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def close(self) -> None:
        if self.owns_group:
            dist.destroy_process_group()


class Trainer:
    """Builds everything from a TrainConfig; :meth:`fit` trains and returns the summary."""

    def __init__(self, cfg: TrainConfig, train_frames: Sequence[Frame] | None = None,
                 val_frames: Sequence[Frame] | None = None) -> None:
        """`train_frames` / `val_frames` replace the config's data sources (tests, tools)."""
        self.cfg = cfg
        self._frames = (train_frames, val_frames)
        self.dist = _Dist()
        self.out_dir = Path(cfg.out_dir)
        torch.manual_seed(cfg.seed + self.dist.rank)
        self.step, self.epoch, self.best = 0, 0, None
        self.model, resume_state = self._build_model()
        self.device = self.dist.device
        self.model.to(self.device)
        self.net: torch.nn.Module = self.model
        if self.dist.world > 1:
            ids = [self.dist.local_rank] if self.dist.cuda else None
            self.net = DistributedDataParallel(self.model, device_ids=ids)
        self.loss_fn = DepthLoss(LossWeights(**cfg.loss), self.model.cfg.max_depth
                                 / self.model.cfg.min_depth)
        self.opt = torch.optim.Adam(self.parameter_groups(), lr=cfg.lr, betas=cfg.betas,
                                    weight_decay=cfg.weight_decay)
        self.amp = cfg.amp == "on" or (cfg.amp == "auto" and self.dist.cuda)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp and self.dist.cuda)
        #: the focal length (px at the input width) all depth targets are normalized to
        self.ref_focal = (kitti_reference_focal(cfg.input_size[1]) if cfg.focal_normalize
                          else None)
        self.train_ds, self.val_ds = self._build_data()
        sampler = (DistributedSampler(self.train_ds, self.dist.world, self.dist.rank,
                                      shuffle=True, seed=cfg.seed, drop_last=True)
                   if self.dist.world > 1 else
                   RandomSampler(self.train_ds, generator=torch.Generator().manual_seed(cfg.seed)))
        self.sampler = sampler
        self.loader = DataLoader(self.train_ds, batch_size=cfg.batch_size, sampler=sampler,
                                 num_workers=cfg.num_workers, drop_last=False,
                                 pin_memory=self.dist.cuda)
        self.steps_per_epoch = max(1, len(self.loader))
        self.total_steps = cfg.epochs * self.steps_per_epoch
        if cfg.max_steps:
            self.total_steps = min(self.total_steps, cfg.max_steps)
        if resume_state:
            self._restore(resume_state)
        self.writer = None
        self.git_rev = git_revision() if self.dist.main else None

    # -- construction ---------------------------------------------------------------------
    def _build_model(self) -> tuple[DepthNetNano, dict[str, Any] | None]:
        """Fresh, initialized from `init_checkpoint`, or resumed from out_dir/last.pt."""
        cfg = self.cfg
        want = DepthNetNanoConfig.from_dict({**DepthNetNanoConfig().to_dict(), **cfg.model})
        last = self.out_dir / "last.pt"
        source = last if cfg.resume and last.is_file() else cfg.init_checkpoint
        if source is None:
            return DepthNetNano(want), None
        try:
            model, info = load_checkpoint(source)
        except CheckpointError as exc:
            raise TrainingError(f"cannot start from checkpoint: {exc}") from exc
        if model.cfg != want:
            raise TrainingError(
                f"checkpoint {source} holds a different model config than this training config "
                f"(checkpoint: {model.cfg.to_dict()}, config: {want.to_dict()}); use a matching "
                "'model:' section or a new out_dir")
        model.train()
        state = info.extra.get("train_state") if source == last else None
        if source == last and not state:
            raise TrainingError(f"{last} has no training state to resume from: delete it or "
                                "set resume: false")
        return model, state

    def _build_data(self) -> tuple[DepthDataset, DepthDataset | None]:
        cfg = self.cfg
        cache = Path(cfg.cache_dir) if cfg.cache_dir else self.out_dir / "cache"
        aug = (AugmentConfig(**cfg.augment) if isinstance(cfg.augment, dict)
               else AugmentConfig() if cfg.augment else None)
        common = {"cache_in_memory": cfg.cache_in_memory, "max_depth": self.model.cfg.max_depth,
                  "min_depth": self.model.cfg.min_depth, "ref_focal": self.ref_focal}
        given_train, given_val = self._frames
        if given_train is None and not cfg.train:
            raise TrainingError("the config has no 'train' data sources: add at least one "
                                "(see docs/training.md)")
        train_frames = list(given_train) if given_train is not None else [
            f for s in cfg.train for f in build_frames(s, cfg.base_dir, cache)]
        train = DepthDataset(train_frames, cfg.input_size, aug, cfg.seed, **common)
        if len(train) < self.dist.world:
            raise TrainingError(f"{len(train)} training frames for {self.dist.world} processes")
        val = None
        if given_val is not None or cfg.val:
            val_frames = list(given_val) if given_val is not None else [
                f for s in cfg.val for f in build_frames(s, cfg.base_dir, cache)]
            val = DepthDataset(val_frames, cfg.input_size, None, cfg.seed, **common)
        return train, val

    def _restore(self, state: dict[str, Any]) -> None:
        self.opt.load_state_dict(state["optimizer"])
        self.step, self.epoch = int(state["step"]), int(state["epoch"])
        self.best = state.get("best")
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])

    # -- helpers --------------------------------------------------------------------------
    def parameter_groups(self) -> list[dict[str, Any]]:
        """Optimizer groups (the depth network; subclasses add their own nets); a group's
        ``lr_scale`` multiplies the scheduled learning rate."""
        return [{"params": list(self.model.parameters())}]

    def lr_at(self, step: int) -> float:
        """Learning rate of optimizer step `step` (warm-up, then constant or cosine)."""
        cfg = self.cfg
        if cfg.warmup_steps and step < cfg.warmup_steps:
            return cfg.lr * (step + 1) / cfg.warmup_steps
        if cfg.lr_schedule == "cosine":
            span = max(1, self.total_steps - cfg.warmup_steps)
            t = min(1.0, (step - cfg.warmup_steps) / span)
            lo = cfg.lr * cfg.lr_min_ratio
            return lo + 0.5 * (cfg.lr - lo) * (1 + math.cos(math.pi * t))
        return cfg.lr

    def _autocast(self):
        if not self.amp:
            return nullcontext()
        dtype = torch.float16 if self.dist.cuda else torch.bfloat16
        return torch.autocast(self.device.type, dtype=dtype)

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One optimizer step on a batch; returns the loss terms."""
        self.net.train()
        image = batch["image"].to(self.device, non_blocking=True)
        target = batch["target"].to(self.device, non_blocking=True)
        mask = batch["mask"].to(self.device, non_blocking=True)
        with self._autocast():
            pred = self.net(image)
        loss, terms = self.loss_fn(pred.float(), target, mask)
        self.optimize(loss)
        self._last_batch = (image[:1].detach(), target[:1], pred[:1].detach().float())
        return terms

    def optimize(self, loss: torch.Tensor) -> None:
        """Backward, clip, step at this step's learning rate; count the step."""
        if not torch.isfinite(loss):
            raise TrainingError(f"loss became {float(loss)} at step {self.step}: lower lr "
                                f"(now {self.opt.param_groups[0]['lr']:.2g}) or set grad_clip")
        for g in self.opt.param_groups:
            g["lr"] = self.lr_at(self.step) * g.get("lr_scale", 1.0)
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.cfg.grad_clip:
            self.scaler.unscale_(self.opt)
            torch.nn.utils.clip_grad_norm_([p for g in self.opt.param_groups for p in g["params"]],
                                           self.cfg.grad_clip)
        self.scaler.step(self.opt)
        self.scaler.update()
        self.step += 1

    def save(self, name: str, metrics: dict[str, Any] | None = None,
             with_state: bool = True) -> Path:
        """Write <out_dir>/<name> (rank 0 only) with model/train config, git rev, metrics."""
        extra: dict[str, Any] = {"step": self.step, "epoch": self.epoch}
        if with_state:
            extra["train_state"] = {
                "optimizer": self.opt.state_dict(), "step": self.step, "epoch": self.epoch,
                "best": self.best, "scaler": self.scaler.state_dict() if self.amp else None,
                **self.extra_train_state()}
        return save_checkpoint(self.out_dir / name, self.model, input_size=self.cfg.input_size,
                               train_config=self.cfg.to_dict(), metrics=metrics or {},
                               git_rev=self.git_rev, extra=extra, focal_px=self.ref_focal)

    def extra_train_state(self) -> dict[str, Any]:
        """More state that resuming needs (subclasses: their own networks)."""
        return {}

    def validate(self) -> dict[str, float]:
        """The validation metrics of the model now (the evaluator's, on the val targets)."""
        return validate(self.model, self.val_ds, self.device, self.cfg.batch_size)

    def _is_better(self, metrics: dict[str, float]) -> bool:
        key = self.cfg.best_metric
        if key not in metrics:
            raise TrainingError(f"best_metric {key!r} is not a validation metric; choose one "
                                f"of {sorted(metrics)}")
        if self.best is None:
            return True
        if key in HIGHER_IS_BETTER:
            return metrics[key] > self.best[key]
        return metrics[key] < self.best[key]

    def _log(self, tag: str, values: dict[str, float]) -> None:
        if self.writer is not None:
            for k, v in values.items():
                self.writer.add_scalar(f"{tag}/{k}", v, self.step)

    def _log_images(self) -> None:
        from depthnet_nano_ros.training.tb_images import sample_images

        if self.writer is None or not hasattr(self, "_last_batch"):
            return
        for name, img in sample_images(*self._last_batch, self.model.cfg.max_depth).items():
            self.writer.add_image(f"train/{name}", img, self.step, dataformats="HWC")

    def _end_epoch(self) -> dict[str, float]:
        """Validate (rank 0), write last.pt and maybe best.pt; returns the validation metrics."""
        metrics: dict[str, float] = {}
        if self.dist.main:
            if self.val_ds is not None and self.epoch % self.cfg.val_every_epochs == 0:
                metrics = self.validate()
                self._log("val", metrics)
                if self._is_better(metrics):
                    self.best = {**metrics, "step": self.step, "epoch": self.epoch}
                    self.save("best.pt", metrics, with_state=False)
            self.save("last.pt", metrics)
        self.dist.barrier()
        return metrics

    # -- the loop -------------------------------------------------------------------------
    def fit(self) -> dict[str, Any]:
        """Train to the configured epochs / steps / minutes; returns a summary dict."""
        from tqdm import tqdm

        cfg = self.cfg
        start = time.monotonic()
        if self.dist.main:
            from torch.utils.tensorboard import SummaryWriter

            self.out_dir.mkdir(parents=True, exist_ok=True)
            self.writer = SummaryWriter(str(self.out_dir / "tb"))
        bar = tqdm(total=self.total_steps, initial=self.step, disable=not (
            self.dist.main and cfg.progress), unit="step", dynamic_ncols=True)
        last_metrics: dict[str, float] = {}
        stop = self.step >= self.total_steps
        try:
            while not stop and self.epoch < cfg.epochs:
                self.train_ds.set_epoch(self.epoch)
                if isinstance(self.sampler, DistributedSampler):
                    self.sampler.set_epoch(self.epoch)
                for batch in self.loader:
                    terms = self.train_step(batch)
                    bar.update(1)
                    bar.set_postfix(loss=f"{terms['loss']:.3f}", epoch=self.epoch)
                    if self.step % cfg.log_every_steps == 0:
                        self._log("train", {**terms, "lr": self.opt.param_groups[0]["lr"]})
                    if cfg.image_every_steps and self.step % cfg.image_every_steps == 0:
                        self._log_images()
                    if (cfg.ckpt_every_steps and self.step % cfg.ckpt_every_steps == 0
                            and self.dist.main):
                        self.save("last.pt")
                    elapsed = (time.monotonic() - start) / 60
                    if self.step >= self.total_steps or (cfg.max_minutes
                                                         and elapsed >= cfg.max_minutes):
                        stop = True
                        break
                self.epoch += 1
                last_metrics = self._end_epoch()
        finally:
            bar.close()
            if self.writer is not None:
                self.writer.close()
        return {"steps": self.step, "epochs": self.epoch, "minutes": (time.monotonic() - start)
                / 60, "val": last_metrics, "best": self.best, "out_dir": str(self.out_dir),
                "world_size": self.dist.world}

    def close(self) -> None:
        """Tear down the process group if this trainer created it."""
        self.dist.close()



def publish(checkpoint: str | Path, dest: str | Path, half: bool = True) -> Path:
    """Copy a training checkpoint to `dest` as a release: fp16 weights, no optimizer state."""
    try:
        model, info = load_checkpoint(checkpoint)
    except CheckpointError as exc:
        raise TrainingError(f"cannot publish: {exc}") from exc
    extra = {k: v for k, v in info.extra.items() if k != "train_state"}
    extra["published_from"] = str(checkpoint)
    return save_checkpoint(dest, model, input_size=info.input_size, half=half,
                           train_config=info.train_config, metrics=info.metrics,
                           git_rev=info.git_rev, extra=extra, focal_px=info.focal_px)
