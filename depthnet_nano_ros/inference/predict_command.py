"""`depthnet_nano predict IMAGE... --output DIR`: <stem>.npy (metres) and <stem>.png (colour)."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np

from depthnet_nano_ros.inference.errors import InferenceError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `predict`."""
    parser.add_argument("images", nargs="+", help="image files (png/jpg)")
    parser.add_argument("--output", required=True, help="folder for <stem>.npy and <stem>.png")
    parser.add_argument("--backend", default="auto",
                        choices=("auto", "torch", "onnxruntime", "tensorrt", "torch2trt"))
    parser.add_argument("--checkpoint", help="checkpoint (default: the reference one)")
    parser.add_argument("--engine", help="exported .onnx / .engine / torch2trt .pth instead")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "fp16", "int8"))
    parser.add_argument("--focal-px", type=float, help="camera fx in pixels at the images' "
                        "resolution, for metric depth of a camera other than the training one "
                        "(default: unscaled)")
    parser.add_argument("--vmin", type=float, help="colour scale start, metres (default: 2nd "
                        "percentile of each map)")
    parser.add_argument("--vmax", type=float, help="colour scale end, metres (default: 98th "
                        "percentile of each map)")


def _load_rgb(path: Path) -> np.ndarray:
    """An image file as RGB uint8, with an InferenceError naming unreadable files."""
    from PIL import Image

    from depthnet_nano_ros.fileio import read_rgb

    try:
        return read_rgb(path)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        # PIL's UnidentifiedImageError is an OSError
        raise InferenceError(f"cannot read image {path} ({exc}); pass a PNG or JPEG "
                             "image file") from exc


def run(args: argparse.Namespace) -> int:
    """Estimate depth for every image and write the two files per image."""
    from PIL import Image

    from depthnet_nano_ros.fileio import atomic_write_bytes
    from depthnet_nano_ros.geometry.colormap import colorize
    from depthnet_nano_ros.inference.estimator import DepthEstimator

    paths = [Path(p) for p in args.images]
    out_dir = Path(args.output)
    if out_dir.exists() and not out_dir.is_dir():
        raise InferenceError(f"--output {out_dir} is an existing file; give a folder for the "
                             "<stem>.npy and <stem>.png files")
    for p in paths:
        if not p.is_file():
            raise InferenceError(f"image {p} does not exist")
        _load_rgb(p)  # every image readable before anything is written
    est = DepthEstimator.create(args.checkpoint, args.engine, args.backend, args.precision)
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in paths:
        pred = est.estimate(_load_rgb(path), focal_px=args.focal_px)
        depth = pred.depth
        lo = args.vmin if args.vmin is not None else float(np.percentile(depth, 2))
        hi = args.vmax if args.vmax is not None else float(np.percentile(depth, 98))
        hi = max(hi, lo + 1e-3)
        buf = io.BytesIO()
        np.save(buf, depth.astype(np.float32))
        atomic_write_bytes(out_dir / f"{path.stem}.npy", buf.getvalue())
        buf = io.BytesIO()
        Image.fromarray(colorize(depth, lo, hi)).save(buf, format="PNG")
        atomic_write_bytes(out_dir / f"{path.stem}.png", buf.getvalue())
        t = pred.timings_ms
        print(f"{path.name}: {depth.shape[1]}x{depth.shape[0]} depth {depth.min():.1f}-"
              f"{depth.max():.1f} m, colour {lo:.1f}-{hi:.1f} m [{est.backend}: pre "
              f"{t['preprocess']:.1f} ms, net {t['inference']:.1f} ms, post "
              f"{t['postprocess']:.1f} ms]")
    print(f"wrote {2 * len(paths)} files to {out_dir}")
    return 0
