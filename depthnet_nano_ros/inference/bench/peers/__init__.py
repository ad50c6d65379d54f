"""Peer networks for the speed benchmark: DenseDepth-KITTI and FastDepth (random weights)."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from depthnet_nano_ros.inference.bench.peers.densedepth import DenseDepth
from depthnet_nano_ros.inference.bench.peers.fastdepth import FastDepth

#: name -> constructor (the names used in bench results).
PEERS: dict[str, Callable[[], nn.Module]] = {"densedepth": DenseDepth, "fastdepth": FastDepth}


def build_peer(name: str) -> nn.Module:
    """A peer network in eval mode, by name."""
    return PEERS[name]().eval()


__all__ = ["PEERS", "DenseDepth", "FastDepth", "build_peer"]
