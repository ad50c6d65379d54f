"""`depthnet_nano train --config config/train_<name>.yaml [key=value ...]`.

Under ``torchrun --nproc_per_node=N depthnet_nano train ...`` the same command trains with
DistributedDataParallel.
"""

from __future__ import annotations

import argparse
import json

from depthnet_nano_ros.training.config import load_config

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `train`."""
    parser.add_argument("--config", required=True,
                        help="training YAML (e.g. config/train_reference.yaml)")
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


def run(args: argparse.Namespace) -> int:
    """Train; print the summary as JSON (rank 0)."""
    from depthnet_nano_ros.training.trainer import Trainer, publish

    overrides = list(args.overrides)
    if args.out_dir:
        overrides.append(f"out_dir={args.out_dir}")
    if args.no_progress:
        overrides.append("progress=false")
    cfg = load_config(args.config, overrides)
    trainer = Trainer(cfg)
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
