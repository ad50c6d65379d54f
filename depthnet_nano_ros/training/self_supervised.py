"""Self-supervised training on a camera-only bag (Monodepth2), on top of :class:`Trainer`.

DepthNet Nano predicts the target frame's depth, :class:`~.pose_net.PoseNet` the poses to
the previous and next frames, and :func:`~.photometric.reprojection_loss` scores the view
synthesis. Progress bar, TensorBoard, checkpoints, resume and the schedule are the
supervised trainer's. Validation: the evaluator's metrics on the bag's lidar when the source
names a lidar topic (best.pt by ``ms_abs_rel``), else the photometric error of the held-out
frames. At the end the metric scale is recovered (``scale_recovery``: camera height, else
lidar, else none) and written into the checkpoints as their reference focal length, so the
estimator, the node and the evaluator output metres on this camera (and rescale for others).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from depthnet_nano_ros.model.checkpoint import load_checkpoint, save_checkpoint
from depthnet_nano_ros.model.transforms import normalize_rgb
from depthnet_nano_ros.training.bag_dataset import bag_frames
from depthnet_nano_ros.training.datasets import DepthDataset
from depthnet_nano_ros.training.errors import TrainingError
from depthnet_nano_ros.training.photometric import reprojection_loss
from depthnet_nano_ros.training.pose_net import PoseNet
from depthnet_nano_ros.training.scale_recovery import height_scale, lidar_scale
from depthnet_nano_ros.training.sequence_dataset import TripletDataset, bag_sequence
from depthnet_nano_ros.training.trainer import Trainer
from depthnet_nano_ros.training.validation import predict_depth

__all__ = ["SelfSupervisedTrainer", "is_self_supervised"]

_MEAN, _STD = 0.45, 0.225  # monodepth2's pose-network input normalization
POSE_LR_SCALE = 10.0
RANGE_WEIGHT = 1.0


def is_self_supervised(sources: list[dict[str, Any]]) -> bool:
    """True when the sources are ``supervision: self`` bags (an error when mixed)."""
    flags = {s.get("supervision") == "self" for s in sources}
    if len(flags) > 1:
        raise TrainingError("self-supervised bag sources (supervision: self) cannot be mixed "
                            "with supervised ones in one run: fine-tune in two runs (--init)")
    return flags == {True}


class SelfSupervisedTrainer(Trainer):
    """Monodepth2-style training (module doc); `cfg.train` holds ``supervision: self`` bags."""

    def __init__(self, cfg, *args, **kwargs) -> None:
        super().__init__(cfg, *args, **kwargs)
        self.pose_net.to(self.device)
        #: steps in which only the pose network learns (then the depth net's lr ramps up)
        self.pose_warmup = int(cfg.self_supervised.get("pose_warmup_steps", 50))

    def _build_model(self):
        model, state = super()._build_model()
        self.pose_net = PoseNet()
        if state and state.get("pose_net"):
            self.pose_net.load_state_dict(state["pose_net"])
        return model, state

    def parameter_groups(self) -> list[dict[str, Any]]:
        """The pose network learns 10x faster: it starts from scratch, the depth net does not."""
        return [{"params": list(self.model.parameters())},
                {"params": list(self.pose_net.parameters()), "lr_scale": POSE_LR_SCALE}]

    def _build_data(self):
        cfg = self.cfg
        self.ref_focal = None  # no targets to normalize; the scale is recovered at the end
        self.sequences = [bag_sequence({**s, "part": "train"}, cfg.input_size, cfg.base_dir)
                          for s in cfg.train]
        train = TripletDataset(self.sequences, flip=bool(cfg.augment), seed=cfg.seed)
        self.lidar_val = None
        val_specs = [s for s in cfg.val if s.get("lidar_topic")]
        if val_specs:  # ground truth in the bag: the evaluator's metrics
            frames = [f for s in val_specs for f in bag_frames(
                {k: v for k, v in s.items() if k != "supervision"}, cfg.base_dir)]
            self.lidar_val = DepthDataset(frames, cfg.input_size)
            if cfg.best_metric == "abs_rel":
                cfg.best_metric = "ms_abs_rel"  # the raw scale is arbitrary until recovered
            return train, self.lidar_val
        if cfg.val:
            if cfg.best_metric == "abs_rel":
                cfg.best_metric = "photometric"
            val_seqs = [bag_sequence({**s, "part": "val"}, cfg.input_size, cfg.base_dir)
                        for s in cfg.val]
            return train, TripletDataset(val_seqs, flip=False, seed=cfg.seed, at_least=1)
        return train, None

    def _depth_and_loss(self, batch: dict[str, torch.Tensor], freeze_depth: bool = False):
        dev = self.device
        target, prev, nxt = (batch[k].to(dev) for k in ("target", "prev", "next"))
        K = batch["K"].to(dev)
        cfg = self.model.cfg
        raw = self.net(batch["image"].to(dev)).float()
        lo, hi = 1.0, cfg.max_depth / cfg.min_depth
        # the inference clamp, with gradients passing through; a penalty keeps the raw output
        # from running away beyond it (where the clamp would hold a pixel at 80 m for good)
        o = raw + (raw.clamp(lo, hi) - raw).detach()
        outside = (torch.relu(lo - raw) + torch.relu(raw - hi) / hi).mean()
        if freeze_depth:
            o = o.detach()  # the pose network first learns to explain the initial depth
        depth = cfg.max_depth / o
        norm = [(x - _MEAN) / _STD for x in (target, prev, nxt)]
        poses = [self.pose_net(torch.cat([norm[0], n], 1)) for n in norm[1:]]
        loss, terms = reprojection_loss(target, [prev, nxt], depth, poses, K, o / cfg.max_depth)
        return loss + RANGE_WEIGHT * outside, {**terms, "outside_range": float(outside.detach())}

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One view-synthesis step."""
        self.net.train()
        self.pose_net.train()
        warm = self.pose_warmup
        # after the pose warm-up the depth net's learning rate ramps up over as many steps:
        # Adam's first updates move every weight by ~lr, which would shake a trained net
        self.opt.param_groups[0]["lr_scale"] = min(1.0, max(0.0, (self.step - warm) /
                                                            max(1, warm)))
        loss, terms = self._depth_and_loss(batch, freeze_depth=self.step < warm)
        self.optimize(loss)
        return {"loss": float(loss.detach()), **terms}

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Evaluator metrics on the bag's lidar, else the held-out photometric error."""
        if self.lidar_val is not None:
            return super().validate()
        self.model.eval()
        self.pose_net.eval()
        errors = [self._depth_and_loss(b)[1]["photometric"]
                  for b in DataLoader(self.val_ds, batch_size=self.cfg.batch_size)]
        self.model.train()
        return {"photometric": float(np.mean(errors))}

    def extra_train_state(self) -> dict[str, Any]:
        """The pose network, so that a resumed run continues it too."""
        return {"pose_net": self.pose_net.state_dict()}

    def fit(self) -> dict[str, Any]:
        """Train, then recover the metric scale and record it in last.pt and best.pt."""
        summary = super().fit()
        if self.dist.main:
            summary["scale"] = {name: self.record_scale(self.out_dir / name)
                                for name in ("last.pt", "best.pt")
                                if (self.out_dir / name).is_file()}
        return summary

    def record_scale(self, path) -> dict[str, Any]:
        """Recover the scale of checkpoint `path` and store it as its reference focal."""
        model, info = load_checkpoint(path)
        model.eval()
        seq = self.sequences[0]
        how = "camera_height" if self.cfg.self_supervised.get("camera_height") else (
            "lidar" if self.lidar_val is not None else "none")
        scale, frames = 1.0, 0
        if how == "camera_height":
            step = max(1, len(seq.images) // 20)
            images = torch.from_numpy(np.concatenate([normalize_rgb(im)
                                                      for im in seq.images[::step]]))
            depth = predict_depth(model, images)[:, 0].numpy()
            scale, frames = height_scale(depth, seq.K, float(
                self.cfg.self_supervised["camera_height"]))
        elif how == "lidar":
            pairs = [(predict_depth(model, b["image"])[:, 0].numpy(), b["depth"][:, 0].numpy())
                     for b in DataLoader(self.lidar_val, batch_size=4)]
            scale, frames = lidar_scale((p, g) for ps, gs in pairs
                                        for p, g in zip(ps, gs, strict=True))
        result = {"scale": scale, "from": how, "frames": frames}
        extra = {**info.extra, "self_supervised_scale": result}
        # metres on this camera: the estimator multiplies by f_camera / focal_px = scale
        save_checkpoint(path, model, input_size=info.input_size, train_config=info.train_config,
                        metrics=info.metrics, git_rev=info.git_rev, extra=extra,
                        focal_px=float(seq.K[0, 0]) / scale)
        return result
