"""`make demo`: the whole chain, run exactly as a user would run it, with everything left to see.

    python -m depthnet_nano_ros.demo --output demo_out                # synthetic drive
    python -m depthnet_nano_ros.demo --kitti .../2011_09_26 --drive 0005
    python -m depthnet_nano_ros.demo --readme-images docs/images      # README pictures

Steps (each an installed console script in its own process, logged to OUTPUT/logs/):
synth-drive -> kitti2bag -> depth_node (background, the shipped parameters and DDS profile)
-> evaluate --live (plays the bag into the node, scores its depth against the lidar) ->
depth PNGs and a .ply point cloud from the depth the node published.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from depthnet_nano_ros.cli import parse_hw
from depthnet_nano_ros.demo.steps import DeferredInterrupts, DemoError, StepRunner, StepTiming
from depthnet_nano_ros.errors import DepthNetNanoError

IMAGE_TOPIC = "/kitti/camera_color_left/image_raw"
CAMERA_INFO_TOPIC = "/kitti/camera_color_left/camera_info"
SYNTH_DRIVE = "9000"  #: drive number `synth-drive` writes
SYNTH_FRAMES = 40
MARKER = ".depthnet_demo"  #: marks an output folder the demo may clear on the next run
REPO = Path(__file__).resolve().parents[2]
KITTI_SAMPLE = REPO.parent / "shared" / "data" / "kitti_sample" / "2011_09_26"
HEADLINE = ("abs_rel", "sq_rel", "rmse", "rmse_log", "a1")


def build_parser() -> argparse.ArgumentParser:
    """Options of the demo."""
    p = argparse.ArgumentParser(prog="python -m depthnet_nano_ros.demo",
                                description="Run the depthnet_nano_ros demo end to end.")
    p.add_argument("--output", type=Path, default=Path("demo_out"),
                   help="folder for the results (default demo_out)")
    p.add_argument("--kitti", type=Path, metavar="DATE_DIR",
                   help="real KITTI raw date folder (e.g. .../2011_09_26) instead of a "
                        "synthetic drive")
    p.add_argument("--drive", default="0005", help="KITTI drive number with --kitti (0005)")
    p.add_argument("--frames", type=int,
                   help=f"frames to use (default {SYNTH_FRAMES} synthetic; all with --kitti)")
    p.add_argument("--seed", type=int, default=0, help="synthetic drive seed (default 0)")
    p.add_argument("--checkpoint", type=Path,
                   help="checkpoint .pt for the node (default: the shipped reference one)")
    p.add_argument("--input-size", type=parse_hw, metavar="HxW",
                   help="network input of the node (default: the checkpoint's)")
    p.add_argument("--rate", type=float, default=1.0,
                   help="bag playback rate (default 1.0: the recorded 10 Hz; lower it if the "
                        "node drops frames on a slow CPU)")
    p.add_argument("--depth-pngs", type=int, default=4, help="depth PNGs to write (default 4)")
    p.add_argument("--step-timeout", type=float, default=600.0,
                   help="seconds any one step may take (default 600)")
    p.add_argument("--domain-id", type=int,
                   help="ROS_DOMAIN_ID of the demo's nodes (default: $ROS_DOMAIN_ID, else one "
                        "derived from the process id, so the demo meets no other nodes)")
    p.add_argument("--readme-images", type=Path, metavar="DIR",
                   help="only write depth_example.png and pointcloud_example.png of KITTI "
                        "frame --readme-frame (from --kitti, default the shared sample) to DIR")
    p.add_argument("--readme-frame", type=int, default=0, help="frame for --readme-images (0)")
    return p


def executable(name: str) -> Path:
    """An installed console script next to this Python (the venv's bin/)."""
    path = Path(sys.executable).parent / name
    if not path.is_file():
        raise DemoError(f"{path} does not exist: run `make install` (it installs the "
                        f"`{name}` console script into the venv)")
    return path


def share_file(*parts: str) -> Path:
    """A file of the installed package's share folder (config/...)."""
    try:
        from ament_index_python.packages import get_package_share_directory

        share = Path(get_package_share_directory("depthnet_nano_ros"))
    except (ImportError, LookupError, ValueError, OSError):
        share = Path(sys.prefix) / "share" / "depthnet_nano_ros"
    path = (share / Path(*parts)).resolve()
    if not path.is_file():
        raise DemoError(f"{path} is missing: run `make install` (with AMENT_PREFIX_PATH=.venv)")
    return path


def ament_prefix_path(current: str | None) -> str:
    """AMENT_PREFIX_PATH with this Python's prefix (the venv `make install` fills) first."""
    prefix = str(Path(sys.prefix).resolve())
    paths = [p for p in (current or "").split(os.pathsep) if p]
    if prefix not in {str(Path(p).resolve()) for p in paths}:
        paths.insert(0, prefix)
    return os.pathsep.join(str(Path(p).resolve()) for p in paths)


def child_env(domain_id: int | None) -> dict[str, str]:
    """Environment of every step: the venv's ament index, the large-data DDS profile, localhost."""
    env = dict(os.environ)
    env["AMENT_PREFIX_PATH"] = ament_prefix_path(env.get("AMENT_PREFIX_PATH"))
    env.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(share_file("config",
                                                                   "fastdds_large_data.xml")))
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    if domain_id is None:
        domain_id = int(env.get("ROS_DOMAIN_ID") or 0) or 1 + os.getpid() % 100
    env["ROS_DOMAIN_ID"] = str(domain_id)
    env.update(PYTHONUNBUFFERED="1", RCUTILS_COLORIZED_OUTPUT="0")
    return env


def prepare_output(out: Path) -> None:
    """Create OUTPUT, or clear a previous demo's; refuse a foreign non-empty folder."""
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            raise DemoError(f"{out} is not empty and was not written by the demo: pass "
                            "--output to an empty or new folder")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by python -m depthnet_nano_ros.demo; cleared on rerun\n")


def check_inputs(args: argparse.Namespace) -> None:
    """Fail before the first step on a missing checkpoint or KITTI folder."""
    from depthnet_nano_ros.model.checkpoint import default_checkpoint_path

    if args.checkpoint is None:
        default_checkpoint_path()  # raises CheckpointError naming the fix
    elif not args.checkpoint.is_file():
        raise DemoError(f"--checkpoint {args.checkpoint} does not exist")
    if args.kitti is not None and not args.kitti.is_dir():
        raise DemoError(f"--kitti {args.kitti} is not a folder: pass a KITTI raw date folder "
                        "such as .../2011_09_26 (holding calib_cam_to_cam.txt)")


def node_command(args: argparse.Namespace) -> list[str]:
    """depth_node with the shipped parameter file, remapped to the bag's camera topics."""
    cmd = [str(executable("depth_node")), "--ros-args",
           "--params-file", str(share_file("config", "depthnet_nano.yaml"))]
    if args.checkpoint is not None:
        cmd += ["-p", f"model.checkpoint:={args.checkpoint.resolve()}"]
    if args.input_size is not None:
        cmd += ["-p", f"model.input_height:={args.input_size[0]}",
                "-p", f"model.input_width:={args.input_size[1]}"]
    return cmd + ["-r", f"image:={IMAGE_TOPIC}", "-r", f"camera_info:={CAMERA_INFO_TOPIC}"]


def node_ready(log: str) -> bool:
    """depth_node logs 'ready: <backend> backend, network input HxW, ...' once it serves."""
    return "ready:" in log


class Console:
    """Progress lines of the demo (library modules never print; this is the CLI layer)."""

    def __init__(self, total: int) -> None:
        self.total, self.n = total, 0
        self.note: str | None = None  #: printed under the next step's title

    def step(self, name: str) -> None:
        """Announce the next step."""
        self.n += 1
        print(f"\n== [{self.n}/{self.total}] {name} ==", flush=True)
        if self.note:
            print(self.note, flush=True)
            self.note = None


def run_demo(args: argparse.Namespace,
             interrupts: DeferredInterrupts | None = None) -> dict[str, Any]:
    """Every step of the demo; returns the summary (also written to OUTPUT/demo.json)."""
    from depthnet_nano_ros.demo.outputs import (
        match_predictions,
        pick_evenly,
        write_depth_pngs,
        write_frame_cloud,
    )
    from depthnet_nano_ros.kitti.raw import RawDrive

    t_start = time.monotonic()
    check_inputs(args)
    out = args.output.resolve()
    prepare_output(out)
    work, logs = out / "work", out / "logs"
    cli = str(executable("depthnet_nano"))
    env = child_env(args.domain_id)
    synthetic = args.kitti is None
    console = Console(5 if synthetic else 4)
    frames = args.frames if args.frames is not None else (SYNTH_FRAMES if synthetic else None)
    echo = sys.stdout.buffer
    with StepRunner(logs, env, echo=echo, announce=console.step,
                    interrupts=interrupts) as runner:
        if synthetic:
            runner.run("synth-drive", [cli, "synth-drive", work / "synth", "--frames", frames,
                                       "--seed", args.seed], args.step_timeout)
            date_dir, drive_id = work / "synth" / "2011_09_26", SYNTH_DRIVE
        else:
            date_dir, drive_id = args.kitti.resolve(), args.drive
        bag = work / "bag"
        cmd = [cli, "kitti2bag", date_dir, "--drive", drive_id, "--output", bag, "--overwrite"]
        runner.run("kitti2bag", cmd + (["--frames", f"0:{frames}"] if frames else []),
                   args.step_timeout)
        node = runner.start("depth_node", node_command(args), node_ready, args.step_timeout)
        print(f"depth_node running (pid {node.pid}, ROS_DOMAIN_ID {env['ROS_DOMAIN_ID']}, "
              f"log {node.log})", flush=True)
        preds = work / "predictions"
        console.note = (f"playing the bag into depth_node at rate {args.rate:g} "
                        f"({_play_time(bag, args.rate)}); the scores follow at the end")
        runner.run("evaluate --live", [
            cli, "evaluate", bag, "--live", "--rate", args.rate, "--json", out / "metrics.json",
            "--report", out / "report", "--save-predictions", preds], args.step_timeout)
        runner.check_services("evaluate --live")  # the node must have served to the end
        node_rc = runner.stop(node)
        console.step("depth PNGs and point cloud")
        t0 = time.monotonic()
        drive = RawDrive(date_dir, drive=drive_id)
        saved = match_predictions(preds, drive)
        if not saved:
            raise DemoError(f"the evaluator saved no depth frames in {preds}: see "
                            f"{logs / 'evaluate_live.log'}")
        pngs = write_depth_pngs(pick_evenly(saved, args.depth_pngs), drive, out / "depth")
        middle = saved[len(saved) // 2]
        ply = out / f"pointcloud_{middle.frame:06d}.ply"
        points = write_frame_cloud(middle, drive, ply)
        runner.timings.append(StepTiming("depth PNGs and point cloud", time.monotonic() - t0))
        if interrupts is not None:
            interrupts.check()
        timings = list(runner.timings)
    metrics = json.loads((out / "metrics.json").read_text())
    summary = {
        "source": "synthetic" if synthetic else f"KITTI {date_dir} drive {drive_id}",
        "frames_in_bag": metrics.get("images"), "frames_scored": metrics.get("frames"),
        "dropped_by_node": metrics.get("dropped"), "rate": args.rate,
        "metrics": {k: metrics.get(k) for k in (*HEADLINE, "a2", "a3", "log10")},
        "node_exit_code": node_rc,
        "outputs": {"report": str(_report_index(out / "report")),
                    "metrics": str(out / "metrics.json"), "depth_pngs": [str(p) for p in pngs],
                    "point_cloud": str(ply), "point_cloud_points": points,
                    "logs": str(logs), "bag": str(bag)},
        "steps_s": {t.name: round(t.seconds, 1) for t in timings},
        "total_s": round(time.monotonic() - t_start, 1),
    }
    (out / "demo.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _play_time(bag: Path, rate: float) -> str:
    """'about N s' of playback: the bag's recorded duration / rate (shown as progress)."""
    try:
        import yaml

        info = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
        return f"about {info['duration']['nanoseconds'] * 1e-9 / rate:.0f} s"
    except (OSError, KeyError, TypeError, ValueError, ZeroDivisionError):
        return "recorded timing"


def _report_index(report_dir: Path) -> Path:
    index = report_dir / "index.html"
    return index if index.is_file() else report_dir


def print_summary(s: dict[str, Any]) -> None:
    """Where everything is, the headline metrics and how long each step took."""
    o, m = s["outputs"], s["metrics"]
    print("\n== demo finished ==")
    print(f"data: {s['source']}; {s['frames_scored']} of {s['frames_in_bag']} frames scored "
          f"against lidar (dropped by the node: {s['dropped_by_node']}, playback rate "
          f"{s['rate']:g})")
    print("  ".join(f"{k} {m[k]:.3f}" if m.get(k) is not None else f"{k} n/a"
                    for k in HEADLINE))
    print(f"  HTML report    {o['report']}")
    print(f"  metrics        {o['metrics']}")
    print(f"  depth PNGs     {Path(o['depth_pngs'][0]).parent}/ ({len(o['depth_pngs'])} files)"
          if o["depth_pngs"] else "  depth PNGs     none")
    print(f"  point cloud    {o['point_cloud']} ({o['point_cloud_points']} points; open it "
          "in MeshLab, CloudCompare or Blender)")
    print(f"  logs           {o['logs']}/")
    if s["node_exit_code"] not in (0, None):
        print(f"warning: depth_node exited with code {s['node_exit_code']} when stopped; see "
              f"{o['logs']}/depth_node.log")
    print("steps: " + ", ".join(f"{k} {v:.1f} s" for k, v in s["steps_s"].items())
          + f"; total {s['total_s']:.1f} s")


def main(argv: list[str] | None = None) -> int:
    """Run the demo (or only the README images); exit 1 naming the failed step."""
    args = build_parser().parse_args(argv)
    # The demo sets up its own environment: no sourced workspace or exported prefix needed.
    os.environ["AMENT_PREFIX_PATH"] = ament_prefix_path(os.environ.get("AMENT_PREFIX_PATH"))
    try:
        if args.readme_images is not None:
            from depthnet_nano_ros.demo.outputs import write_readme_images

            date_dir = args.kitti or KITTI_SAMPLE
            for path in write_readme_images(date_dir, args.drive, args.readme_frame,
                                            args.readme_images, args.checkpoint):
                print(f"wrote {path}")
            return 0
        with DeferredInterrupts() as interrupts:
            summary = run_demo(args, interrupts)
        print_summary(summary)
        return 0
    except DepthNetNanoError as exc:
        print(f"\ndemo FAILED: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ndemo interrupted: every process it started has been stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
