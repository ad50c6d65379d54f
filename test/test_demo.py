"""The demo: PLY files, the step runner's failure reports and clean-up, and `make demo` itself.

The end-to-end tests run the installed console scripts (synth-drive, kitti2bag, the real
depth_node over rclpy with the shipped checkpoint, and evaluate --live) on a 3-frame synthetic
drive at a 96x320 network input, so they finish in about a minute on 2 cores.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from depthnet_nano_ros.demo.outputs import (
    crop_to_content,
    neighbour_spacing,
    pick_evenly,
    render_cloud,
    write_readme_images,
)
from depthnet_nano_ros.demo.steps import DemoError, StepFailed, StepRunner, log_tail
from depthnet_nano_ros.geometry.cloud import depth_to_points
from depthnet_nano_ros.geometry.ply import PlyError, read_ply, unpack_rgb, write_ply

REPO = Path(__file__).resolve().parent.parent
PY = REPO / ".venv" / "bin" / "python"


# -- PLY ------------------------------------------------------------------------------------
@pytest.mark.parametrize("binary", [True, False])
def test_ply_round_trip_organized_cloud_with_packed_colors(tmp_path: Path, binary: bool) -> None:
    rng = np.random.default_rng(0)
    depth = rng.uniform(1.0, 80.0, (6, 9)).astype(np.float32)
    depth[0, 0] = np.nan
    depth[2, 3] = 0.0
    rgb = rng.integers(0, 256, (6, 9, 3), dtype=np.uint8)
    cloud = depth_to_points(depth, 700.0, 710.0, 4.5, 3.0, rgb=rgb)
    n = write_ply(tmp_path / "c.ply", cloud, binary=binary, comment="test\nsecond line")
    back = read_ply(tmp_path / "c.ply")
    valid = np.isfinite(depth).ravel() & (depth.ravel() > 0)
    assert n == valid.sum() == 52
    assert back.binary is binary
    np.testing.assert_array_equal(back.points, cloud[..., :3].reshape(-1, 3)[valid])
    np.testing.assert_array_equal(back.colors, rgb.reshape(-1, 3)[valid])
    assert sorted(os.listdir(tmp_path)) == ["c.ply"]  # no temporary file left


def test_ply_unorganized_explicit_colors_and_empty(tmp_path: Path) -> None:
    pts = np.array([[1.0, 2.0, 3.0], [-1.5, 0.25, 1e-7]], dtype=np.float32)
    colors = np.array([[255, 0, 0], [0, 128, 255]], dtype=np.uint8)
    assert write_ply(tmp_path / "a.ply", pts, colors, binary=False) == 2
    back = read_ply(tmp_path / "a.ply")
    np.testing.assert_array_equal(back.points, pts)
    np.testing.assert_array_equal(back.colors, colors)
    assert write_ply(tmp_path / "b.ply", pts) == 2
    assert read_ply(tmp_path / "b.ply").colors is None
    assert write_ply(tmp_path / "e.ply", np.full((2, 2, 3), np.nan)) == 0
    assert read_ply(tmp_path / "e.ply").points.shape == (0, 3)


def test_ply_header_is_standard(tmp_path: Path) -> None:
    write_ply(tmp_path / "h.ply", np.zeros((1, 3)), np.zeros((1, 3), np.uint8))
    data = (tmp_path / "h.ply").read_bytes()
    header = data[:data.index(b"end_header\n")].decode().splitlines()
    assert header == ["ply", "format binary_little_endian 1.0", "element vertex 1",
                      "property float x", "property float y", "property float z",
                      "property uchar red", "property uchar green", "property uchar blue"]
    assert len(data) - data.index(b"end_header\n") - len(b"end_header\n") == 15


def test_unpack_rgb_inverts_cloud_packing() -> None:
    rgb = np.array([[[1, 2, 3], [255, 254, 0]]], dtype=np.uint8)
    packed = depth_to_points(np.ones((1, 2), np.float32), 1, 1, 0, 0, rgb=rgb)[..., 3]
    np.testing.assert_array_equal(unpack_rgb(packed), rgb)


def test_ply_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(PlyError, match="Nx3"):
        write_ply(tmp_path / "x.ply", np.zeros((4, 2)))
    with pytest.raises(PlyError, match="uint8"):
        write_ply(tmp_path / "x.ply", np.zeros((4, 3)), np.zeros((4, 3), np.float32))
    with pytest.raises(PlyError, match="one RGB triple per point"):
        write_ply(tmp_path / "x.ply", np.zeros((4, 3)), np.zeros((3, 3), np.uint8))
    with pytest.raises(PlyError, match="only one"):
        write_ply(tmp_path / "x.ply", np.zeros((4, 4), np.float32), np.zeros((4, 3), np.uint8))
    assert not (tmp_path / "x.ply").exists()
    write_ply(tmp_path / "t.ply", np.ones((10, 3)))
    data = (tmp_path / "t.ply").read_bytes()
    (tmp_path / "t.ply").write_bytes(data[:-5])
    with pytest.raises(PlyError, match="truncated"):
        read_ply(tmp_path / "t.ply")
    (tmp_path / "n.ply").write_text("not a ply\n")
    with pytest.raises(PlyError, match="not a PLY"):
        read_ply(tmp_path / "n.ply")


# -- pictures -------------------------------------------------------------------------------
def test_render_cloud_nearest_point_wins_at_the_view_centre() -> None:
    eye, target = (0.0, -5.0, -5.0), (0.0, 0.0, 10.0)
    direction = np.subtract(target, eye) / np.linalg.norm(np.subtract(target, eye))
    near, far = np.add(eye, 5 * direction), np.add(eye, 9 * direction)
    image = render_cloud(np.array([far, near]), np.array([[0, 0, 255], [255, 0, 0]], np.uint8),
                         size=(40, 60), eye=eye, target=target)
    assert tuple(image[20, 30]) == (255, 0, 0)
    assert (image.reshape(-1, 3) != image[0, 0]).any(axis=1).sum() == 1


def test_neighbour_spacing_is_the_patch_size_capped_at_edges() -> None:
    depth = np.full((4, 6), 10.0, np.float32)
    depth[:, 4:] = 40.0  # a depth edge between columns 3 and 4
    depth[0, 0] = np.nan
    xyz = depth_to_points(depth, 100.0, 100.0, 3.0, 2.0)
    gap = neighbour_spacing(xyz, cap=1.0)
    assert gap[2, 1] == pytest.approx(10.0 / 100.0)  # one pixel at 10 m, fx = 100
    assert gap[2, 3] == 1.0  # across the edge: capped
    assert gap[2, 5] == pytest.approx(40.0 / 100.0)
    assert np.isfinite(gap).all()


def test_crop_to_content_keeps_the_drawing_and_a_margin() -> None:
    image = np.zeros((50, 80, 3), np.uint8)
    image[20, 30] = (9, 9, 9)
    cropped = crop_to_content(image, margin=4)
    assert cropped.shape == (9, 9, 3) and tuple(cropped[4, 4]) == (9, 9, 9)
    assert crop_to_content(np.zeros((5, 5, 3), np.uint8)).shape == (5, 5, 3)


def test_pick_evenly_spreads_over_the_drive() -> None:
    assert pick_evenly(list(range(10)), 4) == [0, 3, 6, 9]
    assert pick_evenly([1, 2], 4) == [1, 2]


def test_readme_images_from_real_kitti(tmp_path: Path, kitti_date_dir: Path) -> None:
    paths = write_readme_images(kitti_date_dir, "0005", 0, tmp_path / "img")
    assert [p.name for p in paths] == ["depth_example.png", "pointcloud_example.png"]
    with Image.open(paths[0]) as depth_png, Image.open(paths[1]) as cloud_png:
        assert depth_png.size == (1242, 750)
        render = np.asarray(cloud_png)
    assert (render != render[0, 0]).any(axis=2).mean() > 0.2  # points were drawn


# -- step runner ----------------------------------------------------------------------------
def _py(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


def _gone(pid: int) -> bool:
    """No such process (or only its zombie, which nobody here will reap)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def _alive_mentioning(text: str) -> list[str]:
    """Command lines of live (non-zombie) processes whose arguments contain `text`."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd and not _gone(int(proc.name)):
            found.append(cmd)
    return found


def _no_process_left(text: str, timeout_s: float = 15.0) -> list[str]:
    """Wait until no live process mentions `text`; return those still there at the timeout."""
    deadline = time.monotonic() + timeout_s
    while (left := _alive_mentioning(text)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def _wait_gone(pid: int, timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not _gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_failed_step_names_step_exit_code_and_log_tail(tmp_path: Path) -> None:
    with StepRunner(tmp_path, dict(os.environ)) as runner:
        runner.run("fine", _py("print('ok')"))
        with pytest.raises(StepFailed) as info:
            runner.run("convert it", _py("""
                import sys
                for i in range(30):
                    print(f"line {i}")
                print("disk full", file=sys.stderr)
                sys.exit(3)
            """))
    err = info.value
    assert (err.step, err.returncode, err.log) == ("convert it", 3, tmp_path / "convert_it.log")
    msg = str(err)
    assert "step 'convert it' failed: exited with code 3" in msg
    assert "disk full" in msg and "line 29" in msg and "line 5\n" not in msg
    assert [t.name for t in runner.timings] == ["fine"]
    assert isinstance(err, DemoError)


def test_step_timeout_and_missing_executable(tmp_path: Path) -> None:
    with StepRunner(tmp_path, dict(os.environ)) as runner:
        with pytest.raises(StepFailed, match="did not finish within 1 s"):
            runner.run("slow", _py("import time; print('working', flush=True); time.sleep(60)"),
                       timeout_s=1.0)
        with pytest.raises(DemoError, match="make install"):
            runner.run("missing", [str(tmp_path / "no_such_tool")])
    assert "working" in log_tail(tmp_path / "slow.log")


SERVICE = """
    import signal, subprocess, sys, time
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    print("grandchild", child.pid, flush=True)
    if sys.argv[1] == "stubborn":
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("ready: serving", flush=True)
    time.sleep(600)
"""


def _grandchild(log: Path) -> int:
    return int(next(line for line in log.read_text().splitlines()
                    if line.startswith("grandchild")).split()[1])


@pytest.mark.parametrize("kind", ["polite", "stubborn"])
def test_failing_step_leaves_no_background_process(tmp_path: Path, kind: str) -> None:
    runner = StepRunner(tmp_path, dict(os.environ), grace_s=(2.0, 1.0))
    try:
        service = runner.start("service", _py(SERVICE) + [kind], lambda log: "ready:" in log,
                               timeout_s=60)
        with pytest.raises(StepFailed, match="step 'step' failed: exited with code 1"):
            runner.run("step", _py("raise SystemExit(1)"))
    finally:
        runner.close()
    assert _wait_gone(service.pid) and _wait_gone(_grandchild(service.log))
    assert service.poll() is not None


def test_dead_background_service_is_reported_as_the_cause(tmp_path: Path) -> None:
    with StepRunner(tmp_path, dict(os.environ)) as runner:
        runner.start("node", _py("""
            import time
            print("ready: x", flush=True)
            time.sleep(1.0)
            print("segfault-ish", flush=True)
            raise SystemExit(7)
        """), lambda log: "ready:" in log, timeout_s=60)
        with pytest.raises(StepFailed) as info:
            runner.run("evaluate", _py("import time; time.sleep(3); raise SystemExit(2)"))
    assert info.value.step == "node" and info.value.returncode == 7
    assert "while 'evaluate' was running" in str(info.value)
    assert "segfault-ish" in str(info.value)


def test_service_that_dies_before_ready(tmp_path: Path) -> None:
    with StepRunner(tmp_path, dict(os.environ)) as runner, pytest.raises(
            StepFailed, match="exited with code 2 before it was ready"):
        runner.start("node", _py("print('checkpoint missing'); raise SystemExit(2)"),
                     lambda log: "ready:" in log, timeout_s=60)


# -- make demo, end to end --------------------------------------------------------------------
def _demo_cmd(out: Path, *extra: str) -> list[str]:
    """The demo as `make demo` runs it (the shipped checkpoint), on 3 frames at 96x320."""
    return [str(PY), "-m", "depthnet_nano_ros.demo", "--output", str(out), "--frames", "3",
            "--input-size", "96x320", *extra]


def _demo_env() -> dict[str, str]:
    env = dict(os.environ)
    env["AMENT_PREFIX_PATH"] = str(REPO / ".venv")
    env.pop("FASTDDS_DEFAULT_PROFILES_FILE", None)  # the demo must pick the shipped profile
    return env


def _node_pid(output: str) -> int:
    line = next(x for x in output.splitlines() if x.startswith("depth_node running (pid "))
    return int(line.split("(pid ")[1].split(",")[0])


def test_demo_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "demo_out"
    proc = subprocess.run(_demo_cmd(out), env=_demo_env(), cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert _wait_gone(_node_pid(proc.stdout))
    assert _no_process_left(str(out)) == []
    summary = json.loads((out / "demo.json").read_text())
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["mode"] == "live" and metrics["images"] == 3
    assert summary["frames_scored"] == metrics["frames"] >= 1
    assert summary["node_exit_code"] == 0
    assert f"abs_rel {metrics['abs_rel']:.3f}" in proc.stdout
    assert (out / "report" / "index.html").is_file()
    assert list(summary["steps_s"]) == ["synth-drive", "kitti2bag", "depth_node",
                                        "evaluate --live", "depth PNGs and point cloud"]
    pngs = sorted((out / "depth").glob("depth_*.png"))
    assert len(pngs) == metrics["frames"]
    with Image.open(pngs[0]) as im:
        assert im.size == (1242, 375) and im.mode == "RGB"
    cloud = read_ply(summary["outputs"]["point_cloud"])
    assert cloud.points.shape[0] == summary["outputs"]["point_cloud_points"] > 1000
    assert cloud.colors is not None and np.isfinite(cloud.points).all()
    assert (cloud.points[:, 2] >= 1.0).all() and (cloud.points[:, 2] <= 80.0).all()
    for name in ("synth-drive", "kitti2bag", "depth_node", "evaluate_live"):
        assert (out / "logs" / f"{name}.log").is_file()


def test_demo_failing_step_reports_it_and_stops_the_node(tmp_path: Path) -> None:
    out = tmp_path / "demo_out"
    proc = subprocess.run(_demo_cmd(out, "--rate", "0"), env=_demo_env(),
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "demo FAILED: step 'evaluate --live' failed: exited with code 2" in proc.stderr
    # the last lines of the step's log: the CLI's own error line, naming the bad flag
    assert "depthnet_nano evaluate: error:" in proc.stderr and "rate" in proc.stderr
    assert _wait_gone(_node_pid(proc.stdout))
    assert _no_process_left(str(out)) == []


def test_demo_ctrl_c_stops_the_node(tmp_path: Path) -> None:
    out = tmp_path / "demo_out"
    demo = subprocess.Popen(_demo_cmd(out, "--rate", "0.02"),
                            env=_demo_env(), cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    seen = []
    try:
        for line in demo.stdout:  # blocks until the node is up
            seen.append(line)
            if line.startswith("== [4/5] evaluate --live"):
                break
        pid = _node_pid("".join(seen))
        assert not _gone(pid)
        demo.send_signal(signal.SIGINT)
        rest, err = demo.communicate(timeout=120)
    finally:
        if demo.poll() is None:
            demo.kill()
    assert demo.returncode == 130, "".join(seen) + rest + err
    assert "every process it started has been stopped" in err
    assert _wait_gone(pid)
    assert _no_process_left(str(out)) == []  # nor the evaluator being started at the signal
