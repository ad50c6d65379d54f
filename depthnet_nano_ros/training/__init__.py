"""Training: the paper's loss, KITTI / synthetic datasets, densification, the DDP trainer.

Entry point: ``depthnet_nano train`` (:mod:`depthnet_nano_ros.training.train_command`); see
docs/training.md. Modules are imported directly (torch, tensorboard and scipy load lazily).
"""
