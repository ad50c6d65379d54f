"""Shared helpers for the inference tests: random-weight checkpoints and exports, made once."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from depthnet_nano_ros.inference.engine_cache import model_hash
from depthnet_nano_ros.inference.export import export_onnx
from depthnet_nano_ros.model import DepthNetNano, load_checkpoint, save_checkpoint

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
    """The random checkpoint exported to ONNX at `size` (once per test session)."""
    model, info = load_checkpoint(random_checkpoint(size))
    meta = {"model_hash": model_hash(model), "min_depth": info.model_config.min_depth,
            "max_depth": info.model_config.max_depth}
    return export_onnx(model, _TMP / f"random_{size[0]}x{size[1]}.onnx", size, meta)


def kitti_frames(drive_dir: Path, count: int = 3) -> list[np.ndarray]:
    """The first `count` left colour frames (RGB uint8) of a KITTI raw drive."""
    return [np.asarray(Image.open(drive_dir / "image_02" / "data" / f"{i:010d}.png")
                       .convert("RGB")) for i in range(count)]
