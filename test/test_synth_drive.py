"""synth-drive: KITTI raw layout and formats, the lidar/depth oracle, determinism, ego motion."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from depthnet_nano_ros.cli import main
from depthnet_nano_ros.geometry.lidar_projection import project_to_depth
from depthnet_nano_ros.kitti import RawDrive, load_depth_png
from depthnet_nano_ros.kitti.synth import CALIB_FILES, DRIVE_NAME, SynthDrive

FRAMES, SEED = 3, 7
H, W = 375, 1242
STAMP = re.compile(r"^2011-09-26 \d{2}:\d{2}:\d{2}\.\d{9}$")


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-frame drive written by the CLI."""
    path = tmp_path_factory.mktemp("synth") / "drive"
    assert main(["synth-drive", str(path), "--frames", str(FRAMES), "--seed", str(SEED),
                 "--quiet"]) == 0
    return path


@pytest.fixture(scope="module")
def raw(out: Path) -> RawDrive:
    return RawDrive(out / "2011_09_26", drive="9000")


@pytest.fixture(scope="module")
def synth() -> SynthDrive:
    """The same drive in memory (for surface ids and exact sub-pixel ray casts)."""
    return SynthDrive(FRAMES, SEED)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_layout_and_file_formats(out: Path) -> None:
    date = out / "2011_09_26"
    drive = date / DRIVE_NAME
    assert sorted(p.name for p in out.iterdir()) == ["2011_09_26"]
    for name, text in CALIB_FILES.items():
        assert (date / name).read_text() == text
    names = [f"{i:010d}" for i in range(FRAMES)]
    assert sorted(p.stem for p in (drive / "image_02" / "data").iterdir()) == names
    for sensor in ("image_02", "velodyne_points", "oxts"):
        lines = (drive / sensor / "timestamps.txt").read_text().splitlines()
        assert len(lines) == FRAMES and all(STAMP.match(s) for s in lines)
    for suffix in ("start", "end"):
        lines = (drive / "velodyne_points" / f"timestamps_{suffix}.txt").read_text().splitlines()
        assert len(lines) == FRAMES and all(STAMP.match(s) for s in lines)
    assert len((drive / "oxts" / "dataformat.txt").read_text().splitlines()) == 30
    for name in names:
        with Image.open(drive / "image_02" / "data" / f"{name}.png") as img:
            assert (img.mode, img.size) == ("RGB", (W, H))
        with Image.open(drive / "proj_depth" / "exact" / "image_02" / f"{name}.png") as img:
            assert (img.mode, img.size) == ("I;16", (W, H))
        scan = drive / "velodyne_points" / "data" / f"{name}.bin"
        assert scan.stat().st_size % 16 == 0
        pts = np.fromfile(scan, dtype="<f4").reshape(-1, 4)
        assert 100_000 < len(pts) <= 64 * 4000
        rng = np.linalg.norm(pts[:, :3], axis=1)
        assert rng.max() <= 120.0 and ((pts[:, 3] >= 0) & (pts[:, 3] <= 1)).all()
        oxts = (drive / "oxts" / "data" / f"{name}.txt").read_text().split()
        assert len(oxts) == 30


def test_calibration_is_the_real_2011_09_26(out: Path, kitti_date_dir: Path) -> None:
    for name in CALIB_FILES:
        assert (out / "2011_09_26" / name).read_bytes() == (kitti_date_dir / name).read_bytes()


def test_raw_drive_reads_it(raw: RawDrive, synth: SynthDrive) -> None:
    assert raw.frames == list(range(FRAMES)) == raw.velodyne_frames
    assert raw.load_image(0).shape == (H, W, 3)
    np.testing.assert_array_equal(raw.calib.K(2), synth.camera.K)
    np.testing.assert_allclose(raw.calib.T_cam_velo(2), synth.camera.T_cam_velo, atol=1e-12)
    stamps = [raw.timestamp_ns(i, sensor) for i in range(FRAMES)
              for sensor in ("image", "velodyne", "oxts")]
    assert np.diff(stamps[::3]).tolist() == [100_000_000] * (FRAMES - 1)
    assert stamps[0] == stamps[1] == stamps[2]  # camera, scan and pose share the instant
    assert raw.load_oxts(0).shape == (30,)


def test_exact_depth_png_is_the_rendered_depth(raw: RawDrive, synth: SynthDrive) -> None:
    frame = synth.frame(0)
    png = load_depth_png(raw.drive_dir / "proj_depth" / "exact" / "image_02" / "0000000000.png")
    sky = frame.camera.surface < 0
    assert sky.any() and (png[sky] == 0).all()
    near = ~sky & (frame.camera.depth < 255.0)
    assert (png[near] > 0).all()
    assert np.abs(png[near] - frame.camera.depth[near]).max() <= 0.5 / 256 + 1e-6
    np.testing.assert_array_equal(raw.load_image(0), frame.camera.rgb)


def _winners(points: np.ndarray, T: np.ndarray, K: np.ndarray) -> dict[str, np.ndarray]:
    """KITTI projection by definition: sub-pixel (u, v), camera z and pixel of each point that
    wins its pixel (nearest first; pixel = (u, v) rounded half up)."""
    cam = points[:, :3].astype(np.float64) @ T[:3, :3].T + T[:3, 3]
    z = cam[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = (K[0, 0] * cam[:, 0] + K[0, 1] * cam[:, 1]) / z + K[0, 2]
        v = K[1, 1] * cam[:, 1] / z + K[1, 2]
    ui, vi = np.floor(u + 0.5), np.floor(v + 0.5)
    idx = np.flatnonzero((z > 0) & (ui >= 0) & (ui < W) & (vi >= 0) & (vi < H))
    pix = (vi[idx] * W + ui[idx]).astype(np.int64)
    order = np.lexsort((z[idx], pix))
    pix, idx = pix[order], idx[order]
    first = np.r_[True, pix[1:] != pix[:-1]]
    idx = idx[first]
    return {"index": idx, "pixel": pix[first], "u": u[idx], "v": v[idx], "z": z[idx]}


def _png_depth_at(depth: np.ndarray, surface: np.ndarray, u: np.ndarray, v: np.ndarray,
                  surf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Depth at sub-pixel (u, v) interpolated from the 4 surrounding pixel centres (inverse depth
    is affine over a plane, so this is exact there) and where all 4 lie on surface `surf`."""
    u0 = np.clip(np.floor(u).astype(np.int64), 0, W - 2)
    v0 = np.clip(np.floor(v).astype(np.int64), 0, H - 2)
    fu, fv = u - u0, v - v0
    inv, same = np.zeros(len(u)), (fu >= 0) & (fu <= 1) & (fv >= 0) & (fv <= 1)
    for dv, du, wgt in ((0, 0, (1 - fu) * (1 - fv)), (0, 1, fu * (1 - fv)),
                        (1, 0, (1 - fu) * fv), (1, 1, fu * fv)):
        d = depth[v0 + dv, u0 + du].astype(np.float64)
        same &= (surface[v0 + dv, u0 + du] == surf) & (d > 0)
        inv += wgt * np.where(d > 0, 1.0 / np.maximum(d, 1e-9), 0.0)
    with np.errstate(divide="ignore"):
        return np.where(same, 1.0 / inv, np.nan), same


@pytest.fixture(scope="module")
def oracle(raw: RawDrive, synth: SynthDrive) -> dict:
    """Frame 1 at 1242x375: the scan as written, projected with the calibration as parsed."""
    i = 1
    T, K = raw.calib.T_cam_velo(2), raw.calib.K(2)
    points = raw.load_velodyne(i)
    frame = synth.frame(i)
    np.testing.assert_array_equal(points, frame.lidar.points)
    win = _winners(points, T, K)
    png = load_depth_png(raw.drive_dir / "proj_depth" / "exact" / "image_02" / f"{i:010d}.png")
    ray_t, _ = synth.renderer.depth_at(synth.camera_geometry(i), win["u"], win["v"])
    return {"T": T, "K": K, "points": points, "frame": frame, "win": win, "png": png,
            "ray_t": ray_t, "surf": frame.lidar.surface[win["index"]]}


def test_oracle_lidar_ground_truth_equals_rendered_depth(oracle: dict, synth: SynthDrive,
                                                         record_property) -> None:
    win, surf = oracle["win"], oracle["surf"]
    sparse = project_to_depth(oracle["points"], oracle["T"], oracle["K"], (H, W))
    # 1. the projection keeps exactly one point per pixel: the nearest, at its camera z
    assert np.count_nonzero(sparse) == len(win["pixel"]) > 20_000
    np.testing.assert_allclose(sparse.ravel()[win["pixel"]], win["z"], rtol=1e-6)
    z = sparse.ravel()[win["pixel"]].astype(np.float64)
    # 2. the camera ray through each point's exact image position hits it (or something
    #    nearer: lidar/camera parallax), never anything farther
    diff = oracle["ray_t"] - z
    occluded = diff < -0.01
    assert (diff <= 0.01).all(), f"{(diff > 0.01).sum()} points in front of the visible surface"
    assert occluded.mean() < 0.03
    # 3. the written exact-depth PNG agrees within 1 cm wherever the point and the 4 pixel
    #    centres around it lie on one plane (boxes, kerbs, road)
    expected, same = _png_depth_at(oracle["png"], oracle["frame"].camera.surface,
                                   win["u"], win["v"], surf)
    planar = surf // 8 < synth.scene.prim_offsets()[1]
    compared = same & planar & ~occluded
    err = np.abs(expected[compared] - z[compared])
    assert err.max() <= 0.01, f"max |sparse - rendered| {err.max():.4f} m"
    assert compared.mean() > 0.8
    excluded = {"occluded": occluded.mean(), "curved": (~planar & ~occluded).mean(),
                "edge": (~same & planar & ~occluded).mean()}
    for key, value in excluded.items():
        record_property(f"excluded_{key}", round(float(value), 4))
    print(f"oracle: {compared.sum()} of {len(z)} GT pixels compared, max err {err.max():.4f} m; "
          f"excluded {excluded}")


def test_oracle_catches_projection_bugs(oracle: dict, synth: SynthDrive) -> None:
    win, surf = oracle["win"], oracle["surf"]
    # Eigen-style depth (lidar x instead of camera z): ~0.27 m too deep
    sparse = project_to_depth(oracle["points"], oracle["T"], oracle["K"], (H, W),
                              depth_mode="lidar_x")
    diff = oracle["ray_t"] - sparse.ravel()[win["pixel"]]
    assert (np.abs(diff) > 0.01).mean() > 0.9
    # monodepth2's MATLAB-style "- 1" pixel shift
    expected, same = _png_depth_at(oracle["png"], oracle["frame"].camera.surface,
                                   win["u"] - 1, win["v"] - 1, surf)
    err = np.abs(expected - win["z"])[same]
    assert (err > 0.01).mean() > 0.5


def test_camera_moves_forward_and_static_depth_shrinks(raw: RawDrive, synth: SynthDrive) -> None:
    lon = np.array([raw.load_oxts(i)[1] for i in range(FRAMES)])
    lat0 = np.deg2rad(raw.load_oxts(0)[0])
    east = np.deg2rad(lon - lon[0]) * 6378137.0 * np.cos(lat0)
    assert np.all(np.diff(east) > 0.6) and np.all(np.diff(east) < 1.5)
    T, K = raw.calib.T_cam_velo(2), raw.calib.K(2)
    points0 = raw.load_velodyne(0)
    surface0 = synth.frame(0).lidar.surface
    static = synth.scene.static_prims()[surface0 // 8]
    moved = points0[static].copy()
    moved[:, 0] -= east[2]  # the same world points seen from frame 2's Velodyne
    z0 = _winners(points0[static], T, K)
    win = _winners(moved, T, K)
    frame2 = synth.frame(2)
    png = load_depth_png(raw.drive_dir / "proj_depth" / "exact" / "image_02" / "0000000002.png")
    surf = surface0[static][win["index"]]
    expected, same = _png_depth_at(png, frame2.camera.surface, win["u"], win["v"], surf)
    planar = surf // 8 < synth.scene.prim_offsets()[1]
    ok = same & planar
    assert ok.sum() > 10_000
    assert np.abs(expected[ok] - win["z"][ok]).max() <= 0.01
    before = dict(zip(z0["index"].tolist(), z0["z"].tolist(), strict=True))
    pairs = [(before[k], z) for k, z in zip(win["index"].tolist(), win["z"].tolist(),
                                            strict=True) if k in before]
    shrink = np.array([a - b for a, b in pairs])
    np.testing.assert_allclose(np.median(shrink), east[2] * T[2, 0], atol=1e-3)


def test_deterministic_by_seed_and_prefix_stable(out: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    assert main(["synth-drive", str(again), "--frames", "2", "--seed", str(SEED),
                 "--quiet"]) == 0
    ours, theirs = _files(again), _files(out)
    assert ours.keys() <= theirs.keys()
    for name, data in ours.items():
        if name.endswith(".txt") and "timestamps" in name:
            assert theirs[name].startswith(data), name
        else:
            assert data == theirs[name], name
    other = SynthDrive(1, SEED + 1).frame(0).camera.rgb
    assert not np.array_equal(other, np.asarray(Image.open(
        out / "2011_09_26" / DRIVE_NAME / "image_02" / "data" / "0000000000.png")))


def test_refuses_non_empty_output_unless_overwrite(tmp_path: Path, capsys) -> None:
    target = tmp_path / "busy"
    target.mkdir()
    (target / "keep.txt").write_text("x")
    assert main(["synth-drive", str(target), "--frames", "1", "--quiet"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["synth-drive", str(target), "--frames", "0", "--quiet"]) == 2
    assert main(["synth-drive", str(target), "--frames", "1", "--overwrite", "--quiet"]) == 0
    assert (target / "keep.txt").exists()
    assert (target / "2011_09_26" / DRIVE_NAME / "image_02" / "data" / "0000000000.png").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy"]  # no temporary left over


RANDOM_SEED = 11


@pytest.fixture(scope="module")
def randomized(tmp_path_factory: pytest.TempPathFactory) -> tuple[RawDrive, SynthDrive]:
    """A 2-frame domain-randomized drive (camera, look, actors) written by the CLI."""
    path = tmp_path_factory.mktemp("synth_random") / "drive"
    assert main(["synth-drive", str(path), "--frames", "2", "--seed", str(RANDOM_SEED),
                 "--randomize", "--quiet"]) == 0
    return RawDrive(path / "2011_09_26", drive="9000"), SynthDrive(2, RANDOM_SEED,
                                                                   randomize=True)


def test_randomized_calibration_describes_the_rendered_camera(randomized) -> None:
    """Lidar projected with the calibration as written lands on the rendered exact depth."""
    raw, synth = randomized
    r = synth.randomization
    assert abs(r.focal_scale - 1) > 0.05 and abs(r.pitch_deg) + abs(r.roll_deg) > 0.5, r
    K, T = raw.calib.K(2), raw.calib.T_cam_velo(2)
    np.testing.assert_allclose(K[0, 0], 721.5377 * r.focal_scale, rtol=1e-5)
    np.testing.assert_allclose(T, synth.camera.T_cam_velo, atol=1e-9)
    points = raw.load_velodyne(1)
    win = _winners(points, T, K)
    png = load_depth_png(raw.drive_dir / "proj_depth" / "exact" / "image_02" / "0000000001.png")
    frame = synth.frame(1)
    surf = frame.lidar.surface[win["index"]]
    expected, same = _png_depth_at(png, frame.camera.surface, win["u"], win["v"], surf)
    ok = same & (surf // 8 < synth.scene.prim_offsets()[1])
    ray_t, _ = synth.renderer.depth_at(synth.camera_geometry(1), win["u"], win["v"])
    ok &= ray_t - win["z"] > -0.01  # not hidden by lidar/camera parallax
    assert ok.sum() > 10_000
    err = np.abs(expected[ok] - win["z"][ok])
    assert np.quantile(err, 0.999) <= 0.01, f"|lidar - rendered| p99.9 {np.quantile(err, 0.999)}"
    # the same scan through KITTI's own calibration misses: the files really changed
    kitti = SynthDrive(1, 0).camera
    off = _winners(points, kitti.T_cam_velo, kitti.K)
    assert not np.array_equal(off["pixel"][:1000], win["pixel"][:1000])


def test_randomized_drives_vary_camera_and_look_and_add_actors() -> None:
    draws = [SynthDrive(1, s, randomize=True).randomization for s in range(8)]
    for field in ("focal_scale", "height_m", "pitch_deg", "roll_deg", "yaw_deg", "gain"):
        values = [getattr(d, field) for d in draws]
        assert np.ptp(values) > 0, field
    plain, rand = SynthDrive(1, 3), SynthDrive(1, 3, randomize=True)
    assert rand.scene.n_prims > plain.scene.n_prims  # pedestrians, cyclists, trucks, fences
    # the plain street is all there (the actors come from a random stream of their own)
    assert {tuple(b) for b in plain.scene.box_lo} <= {tuple(b) for b in rand.scene.box_lo}
    assert plain.randomization is None and plain.calib_files == CALIB_FILES


def test_a_drive_set_renders_in_parallel_is_cached_and_trains(tmp_path: Path, capsys) -> None:
    from depthnet_nano_ros.training.datasets import build_frames

    out = tmp_path / "set"
    args = ["synth-drive", str(out), "--drives", "2", "--frames", "1", "--seed", "40",
            "--randomize", "--no-lidar", "--jobs", "2", "--quiet"]
    assert main(args) == 0
    assert "2 rendered now" in capsys.readouterr().out
    pngs = sorted(out.glob("drive_*/2011_09_26/*_sync/image_02/data/*.png"))
    assert len(pngs) == 2 and not list(out.glob("drive_*/2011_09_26/*_sync/velodyne_points"))
    stamps = [p.stat().st_mtime_ns for p in pngs]
    assert main(args) == 0  # the cache: nothing is rendered again
    assert "0 rendered now" in capsys.readouterr().out
    assert [p.stat().st_mtime_ns for p in pngs] == stamps
    assert main(args[:3] + ["3"] + args[4:]) == 0  # one more drive: only that one
    assert "1 rendered now" in capsys.readouterr().out
    frames = build_frames({"kind": "kitti_raw", "root": str(out), "target": "exact"})
    assert len({f.name for f in frames}) == len(frames) == 3
    focals = [f.focal_px() for f in frames]
    assert len(set(focals)) == 3  # each drive's own calibration
    rgb, depth, dense = frames[0].load()
    assert dense and rgb.shape[:2] == depth.shape and (depth > 0).mean() > 0.5
