"""`depthnet_nano train --config config/train_<name>.yaml [key=value ...]`, or fine-tuning on
your own recordings: `depthnet_nano train --bag BAG --image-topic T --lidar-topic L` (or
`--depth-topic D`), alone or mixed with a config's sources (training/bag_dataset.py).

Under ``torchrun --nproc_per_node=N depthnet_nano train ...`` the same command trains with
DistributedDataParallel.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from depthnet_nano_ros.training.config import TrainConfig, load_config
from depthnet_nano_ros.training.errors import TrainingError

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `train`."""
    parser.add_argument("--config", help="training YAML (e.g. config/train_reference.yaml); "
                        "optional with --bag (then a fine-tuning default: lr 1e-4, 10 epochs, "
                        "from the shipped checkpoint at its input size)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="override settings, e.g. lr=1e-4 epochs=5 input_size=[96,320] "
                             "out_dir=runs/x")
    parser.add_argument("--out-dir", help="shortcut for out_dir=...")
    parser.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    parser.add_argument("--publish", metavar="DEST",
                        help="after training, write <out_dir>/best.pt (see --publish-from) "
                             "to DEST as an fp16 release checkpoint")
    parser.add_argument("--publish-from", choices=("best", "last"), default="best",
                        help="checkpoint to publish: best by validation (default; last.pt "
                             "when there is no validation) or the last one")
    b = parser.add_argument_group("your own bags (lidar-, depth-camera- or self-supervised)")
    b.add_argument("--bag", action="append", default=[], metavar="BAG",
                   help="rosbag2 folder or ROS 1 .bag (repeat for several)")
    b.add_argument("--image-topic", help="colour image topic (sensor_msgs/Image or Compressed)")
    b.add_argument("--camera-info-topic", help="its CameraInfo (default <image ns>/camera_info)")
    sup = b.add_mutually_exclusive_group()
    sup.add_argument("--lidar-topic", help="PointCloud2 topic: targets = the scan projected "
                     "with camera_info and /tf_static, as `depthnet_nano evaluate` does")
    sup.add_argument("--depth-topic", help="depth image registered to the colour camera "
                     "(16UC1 mm or 32FC1 m)")
    b.add_argument("--self-supervised", action="store_true",
                   help="camera only (Monodepth2): view synthesis from the previous and next "
                        "frames with a pose network; a --lidar-topic then only validates and "
                        "gives the metric scale")
    b.add_argument("--camera-height", type=float, metavar="M",
                   help="with --self-supervised: the camera's height above a flat ground in "
                        "metres, for the metric scale")
    b.add_argument("--val-fraction", type=float, default=0.1,
                   help="last fraction of each bag (in time) held out for validation (0.1)")
    b.add_argument("--every", type=int, default=1, help="keep every n-th paired frame (1)")
    b.add_argument("--max-time-offset", type=float, default=0.05,
                   help="seconds between an image and its scan / depth image (0.05)")
    b.add_argument("--init", metavar="CKPT", help="start from this checkpoint (default with "
                   "--bag and no --config: the shipped reference; 'none': random weights)")


#: a fine-tuning run on bags when no --config is given
BAG_DEFAULTS = {"out_dir": "runs/bag_finetune", "lr": 1e-4, "epochs": 10, "batch_size": 4,
                "lr_schedule": "cosine", "warmup_steps": 20, "grad_clip": 5.0}


def bag_sources(args: argparse.Namespace) -> tuple[list[dict], list[dict]]:
    """(train, val) data-source dicts of the --bag options."""
    selfsup = args.self_supervised
    if not args.image_topic or not (args.lidar_topic or args.depth_topic or selfsup):
        raise TrainingError("--bag needs --image-topic and one of --lidar-topic (lidar-"
                            "supervised), --depth-topic (depth-camera-supervised) or "
                            "--self-supervised (camera only)")
    if selfsup and args.depth_topic:
        raise TrainingError("--self-supervised takes no --depth-topic: a depth camera "
                            "supervises directly (drop --self-supervised)")
    if args.camera_height is not None and not selfsup:
        raise TrainingError("--camera-height is for --self-supervised runs")
    info = args.camera_info_topic or args.image_topic.rsplit("/", 1)[0] + "/camera_info"
    common = {"kind": "rosbag2", "image_topic": args.image_topic, "camera_info_topic": info,
              "lidar_topic": args.lidar_topic, "depth_topic": args.depth_topic,
              "val_fraction": args.val_fraction, "every": args.every,
              "max_time_offset": args.max_time_offset,
              "supervision": "self" if selfsup else None}
    common = {k: v for k, v in common.items() if v is not None}
    return ([{**common, "path": str(Path(b).resolve()), "part": "train"} for b in args.bag],
            [{**common, "path": str(Path(b).resolve()), "part": "val"} for b in args.bag])


def _config(args: argparse.Namespace, overrides: list[str]) -> TrainConfig:
    """The config file (or the bag defaults) with the overrides and the --bag sources."""
    if not args.config and not args.bag:
        raise TrainingError("give --config YAML (see config/train_*.yaml) or --bag BAG")
    scratch = (args.init or "").lower() == "none"  # --init none: random weights
    if args.init and not scratch:
        overrides.append(f"init_checkpoint={Path(args.init).resolve()}")
    if args.camera_height is not None:
        overrides.append(f"self_supervised.camera_height={args.camera_height}")
    if args.config:
        return _with_bags(load_config(args.config, overrides), args)
    from depthnet_nano_ros.model.checkpoint import REFERENCE_CHECKPOINT, load_checkpoint

    base = [f"{k}={v}" for k, v in BAG_DEFAULTS.items()]
    cfg = load_config(None, base + overrides)
    if cfg.init_checkpoint is None and not scratch:
        cfg.init_checkpoint = str(REFERENCE_CHECKPOINT)
    if cfg.init_checkpoint and not any(o.startswith("input_size=") for o in overrides):
        cfg.input_size = load_checkpoint(cfg.init_checkpoint)[1].input_size
    return _with_bags(cfg, args)


def _with_bags(cfg: TrainConfig, args: argparse.Namespace) -> TrainConfig:
    if args.bag:
        train, val = bag_sources(args)
        cfg.train, cfg.val = [*cfg.train, *train], [*cfg.val, *val]
    return cfg


def run(args: argparse.Namespace) -> int:
    """Train; print the summary as JSON (rank 0)."""
    from depthnet_nano_ros.training.self_supervised import SelfSupervisedTrainer, is_self_supervised
    from depthnet_nano_ros.training.trainer import Trainer, publish

    overrides = list(args.overrides)
    if args.out_dir:
        overrides.append(f"out_dir={args.out_dir}")
    if args.no_progress:
        overrides.append("progress=false")
    cfg = _config(args, overrides)
    trainer = (SelfSupervisedTrainer if is_self_supervised(cfg.train) else Trainer)(cfg)
    try:
        summary = trainer.fit()
    finally:
        trainer.close()
    if trainer.dist.main:
        if args.publish:
            best = trainer.out_dir / "best.pt"
            use_best = args.publish_from == "best" and best.is_file()
            src = best if use_best else trainer.out_dir / "last.pt"
            summary["published"] = str(publish(src, args.publish))
        print(json.dumps(summary, indent=2, default=str))
    return 0
