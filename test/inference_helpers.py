"""Shared helpers for the inference tests: random-weight checkpoints and exports, made once."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from depthnet_nano_ros import cli
from depthnet_nano_ros.model import DepthNetNano, save_checkpoint

SMALL = (96, 320)
_TMP = Path(tempfile.mkdtemp(prefix="depthnet_inference_tests_"))


@functools.cache
def random_checkpoint(size: tuple[int, int] = SMALL, seed: int = 0) -> Path:
    """A random-weight checkpoint whose depth spreads over ~3-15 m (so parity is meaningful)."""
    torch.manual_seed(seed)
    model = DepthNetNano()
    with torch.no_grad():
        model.decoder.head.weight.mul_(5.0)
        model.decoder.head.bias.fill_(15.0)
    return save_checkpoint(_TMP / f"random_{size[0]}x{size[1]}_{seed}.pt", model, input_size=size)


@functools.cache
def exported_onnx(size: tuple[int, int] = SMALL) -> Path:
    """The random checkpoint exported by `depthnet_nano export --format onnx` (once per run)."""
    out = _TMP / f"random_{size[0]}x{size[1]}.onnx"
    rc = cli.main(["export", "--format", "onnx", "--checkpoint", str(random_checkpoint(size)),
                   "--height", str(size[0]), "--width", str(size[1]), "--output", str(out)])
    assert rc == 0 and out.is_file(), "depthnet_nano export --format onnx failed"
    return out


def kitti_frames(drive_dir: Path, count: int = 3) -> list[np.ndarray]:
    """The first `count` left colour frames (RGB uint8) of a KITTI raw drive."""
    return [np.asarray(Image.open(drive_dir / "image_02" / "data" / f"{i:010d}.png")
                       .convert("RGB")) for i in range(count)]
