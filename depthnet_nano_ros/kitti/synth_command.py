"""`depthnet_nano synth-drive OUT --frames N [--seed S]`: a synthetic drive in KITTI raw layout."""

from __future__ import annotations

import argparse
import sys

from depthnet_nano_ros.kitti.synth import write_drive


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the synth-drive command."""
    parser.add_argument("out", help="output folder; receives 2011_09_26/ (calibration + drive "
                                    "2011_09_26_drive_9000_sync)")
    parser.add_argument("--frames", type=int, default=20, help="number of frames (10 Hz; "
                        "default 20)")
    parser.add_argument("--seed", type=int, default=0, help="scene and motion seed (default 0); "
                        "the same seed gives byte-identical files")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace OUT/2011_09_26 when OUT is not empty")
    parser.add_argument("--quiet", action="store_true", help="no progress line")


def run(args: argparse.Namespace) -> int:
    """Render and write the drive; print where it went and the throughput."""
    def progress(done: int, total: int) -> None:
        print(f"\rsynth-drive: frame {done}/{total}", end="", file=sys.stderr, flush=True)

    summary = write_drive(args.out, args.frames, seed=args.seed, overwrite=args.overwrite,
                          progress=None if args.quiet else progress)
    if not args.quiet:
        print(file=sys.stderr)
    print(f"wrote {summary.frames} frames to {summary.drive_dir} in {summary.seconds:.1f} s: "
          f"{summary.frames_per_second:.2f} frames/s wall, "
          f"{summary.frames_per_cpu_second:.2f} frames/s per CPU second "
          "(1242x375 image + exact depth + 64-beam scan + files)")
    return 0
