"""`depthnet_nano synth-drive OUT --frames N [--seed S]`: a synthetic drive in KITTI raw layout
(or, with `--drives N`, a cached set of them rendered in parallel)."""

from __future__ import annotations

import argparse
import os
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
    parser.add_argument("--randomize", action="store_true",
                        help="domain randomization: random focal length, principal point, camera "
                             "height / pitch / roll / yaw (with calibration files to match), "
                             "exposure, white balance, noise, blur, and pedestrians, cyclists, "
                             "trucks and fences")
    parser.add_argument("--no-lidar", action="store_true",
                        help="write no velodyne_points (training on the exact depth needs none)")
    s = parser.add_argument_group("a set of drives (training data)")
    s.add_argument("--drives", type=int, metavar="N",
                   help="write N drives (seeds SEED..SEED+N-1) to OUT/drive_<seed>/; drives "
                        "already there with the same settings are kept (a cache)")
    s.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                   help="processes rendering drives in parallel (default: the CPU count)")


def run(args: argparse.Namespace) -> int:
    """Render and write the drive; print where it went and the throughput."""
    def progress(done: int, total: int) -> None:
        print(f"\rsynth-drive: frame {done}/{total}", end="", file=sys.stderr, flush=True)

    if args.drives is not None:
        return _run_set(args)
    summary = write_drive(args.out, args.frames, seed=args.seed, overwrite=args.overwrite,
                          progress=None if args.quiet else progress,
                          randomize=args.randomize, lidar=not args.no_lidar)
    if not args.quiet:
        print(file=sys.stderr)
    print(f"wrote {summary.frames} frames to {summary.drive_dir} in {summary.seconds:.1f} s: "
          f"{summary.frames_per_second:.2f} frames/s wall, "
          f"{summary.frames_per_cpu_second:.2f} frames/s per CPU second "
          f"(1242x375 image + exact depth{'' if args.no_lidar else ' + 64-beam scan'} + files)")
    return 0


def _run_set(args: argparse.Namespace) -> int:
    """`--drives N`: the cached, parallel set."""
    from depthnet_nano_ros.kitti.synth.drive_set import write_drive_set

    def progress(done: int, total: int) -> None:
        print(f"\rsynth-drive: drive {done}/{total}", end="", file=sys.stderr, flush=True)

    s = write_drive_set(args.out, args.drives, args.frames, seed=args.seed, jobs=args.jobs,
                        randomize=args.randomize, lidar=not args.no_lidar,
                        progress=None if args.quiet else progress)
    if not args.quiet:
        print(file=sys.stderr)
    print(f"synth-drive set {s.root}: {s.drives} drives of {args.frames} frames, {s.rendered} "
          f"rendered now ({s.frames} frames in {s.seconds:.1f} s, {s.frames_per_second:.2f} "
          f"frames/s with {args.jobs} jobs), {s.drives - s.rendered} from the cache")
    return 0
