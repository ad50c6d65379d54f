"""`depthnet_nano kitti2bag`: a KITTI raw drive or object-dataset folder -> rosbag2."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from depthnet_nano_ros.kitti.bag_writer import STORAGES, plan_frames, topics_for, write_bag
from depthnet_nano_ros.kitti.errors import KittiError
from depthnet_nano_ros.kitti.object_dataset import ObjectDataset, is_object_layout
from depthnet_nano_ros.kitti.raw import RawDrive


def parse_frames(text: str | None) -> slice | None:
    """'A:B' (B exclusive, either side may be empty) or 'A' -> a slice over frame indices."""
    if text is None:
        return None
    try:
        if ":" not in text:
            return slice(int(text), int(text) + 1)
        a, b = text.split(":", 1)
        return slice(int(a) if a else None, int(b) if b else None)
    except ValueError:
        raise KittiError(f"--frames {text!r} is not A:B (frame indices, B exclusive)") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `kitti2bag`."""
    parser.add_argument("input", type=Path,
                        help="KITTI raw date folder (e.g. .../2011_09_26) or object folder "
                             "(holding training/)")
    parser.add_argument("--drive", default="0005", help="raw drive number (default 0005)")
    parser.add_argument("--camera", type=int, default=2, choices=(0, 1, 2, 3),
                        help="camera: 2 = camera_color_left (default), 3 = camera_color_right")
    parser.add_argument("--frames", default=None,
                        help="frame index range A:B (B exclusive), e.g. 0:10; default all")
    parser.add_argument("--layout", choices=("auto", "raw", "object"), default="auto",
                        help="input layout (auto: object if INPUT holds training/image_2)")
    parser.add_argument("--storage", choices=sorted(STORAGES), default="mcap",
                        help="rosbag2 storage plugin (default mcap)")
    parser.add_argument("--output", "-o", type=Path, required=True, help="bag folder to create")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing bag")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Convert and print a one-line summary."""
    layout = args.layout
    if layout == "auto":
        layout = "object" if is_object_layout(args.input) else "raw"
    if layout == "object":
        if args.camera != 2:
            raise KittiError("the object layout has camera 2 only (image_2); drop --camera")
        source: RawDrive | ObjectDataset = ObjectDataset(args.input)
    else:
        source = RawDrive(args.input, args.drive, camera=args.camera)
    frames = plan_frames(source, parse_frames(args.frames))
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=len(frames), unit="frame", desc="kitti2bag", file=sys.stderr)
    start = time.perf_counter()
    try:
        summary = write_bag(frames, args.output, cam=args.camera, storage=args.storage,
                            overwrite=args.overwrite,
                            progress=None if bar is None else (lambda n: bar.update(1)))
    finally:
        if bar is not None:
            bar.close()
    elapsed = time.perf_counter() - start
    topics = ", ".join(topics_for(args.camera).values())
    print(f"wrote {summary.path} ({summary.storage}): {summary.frames} frames, "
          f"{summary.messages} messages in {elapsed:.1f} s "
          f"({summary.frames / max(elapsed, 1e-9):.1f} frames/s); topics {topics}")
    return 0
