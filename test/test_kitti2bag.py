"""kitti2bag round trip (mcap and sqlite3, read with rosbags and rclpy) and its bad inputs."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore

from depthnet_nano_ros.cli import main as cli_main

IMAGE = "/kitti/camera_color_left/image_raw"
INFO = "/kitti/camera_color_left/camera_info"
CLOUD = "/kitti/velo/pointcloud"
TYPESTORE = get_typestore(Stores.ROS2_KILTED)  # a different store than the writer's: same types


def kitti_stamp(line: str) -> int:
    """Independent parse of a KITTI timestamp line to integer ns."""
    day, frac = line.strip().split(".")
    sec = datetime.strptime(day, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()
    return int(sec) * 1_000_000_000 + int(frac.ljust(9, "0"))


def read_bag(path: Path) -> dict[str, list[tuple[int, str, bytes]]]:
    """topic -> [(bag time, msgtype, raw CDR)] and the offered QoS of each connection."""
    out: dict[str, list] = {}
    with Reader(path) as reader:
        for conn, t, raw in reader.messages():
            out.setdefault(conn.topic, []).append((t, conn.msgtype, bytes(raw)))
        out["__qos__"] = {c.topic: c.ext.offered_qos_profiles for c in reader.connections}
    return out


@pytest.fixture(scope="module", params=["mcap", "sqlite3"])
def bag(request: pytest.FixtureRequest, kitti_date_dir: Path, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp(request.param) / "drive_0005"
    rc = cli_main(["kitti2bag", str(kitti_date_dir), "--drive", "0005", "--frames", "0:3",
                   "--storage", request.param, "--output", str(out), "--no-progress"])
    assert rc == 0
    assert (out / "metadata.yaml").is_file()
    assert os.listdir(out.parent) == ["drive_0005"]   # no temporary folder left
    assert f"storage_identifier: {request.param}" in (out / "metadata.yaml").read_text()
    return read_bag(out)


def test_images_identical_to_pngs(bag: dict, kitti_drive_dir: Path) -> None:
    from rclpy.serialization import deserialize_message
    from sensor_msgs.msg import Image as RosImage

    lines = (kitti_drive_dir / "image_02/timestamps.txt").read_text().splitlines()
    assert len(bag[IMAGE]) == 3
    for i, (t, msgtype, raw) in enumerate(bag[IMAGE]):
        assert msgtype == "sensor_msgs/msg/Image"
        with Image.open(kitti_drive_dir / f"image_02/data/{i:010d}.png") as img:
            png = np.asarray(img)
        a = TYPESTORE.deserialize_cdr(raw, msgtype)
        b = deserialize_message(raw, RosImage)
        stamp = kitti_stamp(lines[i])
        assert t == stamp
        for m in (a, b):
            assert (m.height, m.width, m.encoding, m.step) == (375, 1242, "rgb8", 3 * 1242)
            assert m.header.frame_id == "camera_color_left"
            assert m.header.stamp.sec * 1_000_000_000 + m.header.stamp.nanosec == stamp
            assert np.array_equal(np.asarray(m.data, dtype=np.uint8).reshape(png.shape), png)


def test_clouds_identical_to_scans(bag: dict, kitti_drive_dir: Path) -> None:
    from rclpy.serialization import deserialize_message
    from sensor_msgs.msg import PointCloud2

    lines = (kitti_drive_dir / "velodyne_points/timestamps.txt").read_text().splitlines()
    assert len(bag[CLOUD]) == 3
    for i, (t, msgtype, raw) in enumerate(bag[CLOUD]):
        scan = (kitti_drive_dir / f"velodyne_points/data/{i:010d}.bin").read_bytes()
        a = TYPESTORE.deserialize_cdr(raw, msgtype)
        b = deserialize_message(raw, PointCloud2)
        assert t == kitti_stamp(lines[i])
        for m in (a, b):
            assert m.header.frame_id == "velo_link"
            assert m.header.stamp.sec * 1_000_000_000 + m.header.stamp.nanosec == t
            assert [(f.name, f.offset, f.datatype, f.count) for f in m.fields] == [
                ("x", 0, 7, 1), ("y", 4, 7, 1), ("z", 8, 7, 1), ("intensity", 12, 7, 1)]
            assert (m.height, m.width, m.point_step, m.row_step) == (1, len(scan) // 16, 16,
                                                                      len(scan))
            assert not m.is_bigendian
            assert np.asarray(m.data, dtype=np.uint8).tobytes() == scan


def test_camera_info(bag: dict, kitti_date_dir: Path) -> None:
    from rclpy.serialization import deserialize_message
    from sensor_msgs.msg import CameraInfo

    calib = {}
    for line in (kitti_date_dir / "calib_cam_to_cam.txt").read_text().splitlines()[2:]:
        key, value = line.split(":")
        calib[key] = [float(x) for x in value.split()]
    image_stamps = [t for t, _, _ in bag[IMAGE]]
    assert [t for t, _, _ in bag[INFO]] == image_stamps
    for _, msgtype, raw in bag[INFO]:
        for m in (TYPESTORE.deserialize_cdr(raw, msgtype), deserialize_message(raw, CameraInfo)):
            assert (m.width, m.height) == (1242, 375) and m.distortion_model == "plumb_bob"
            assert list(m.k) == calib["K_02"] and list(m.d) == calib["D_02"]
            assert list(m.r) == calib["R_rect_02"] and list(m.p) == calib["P_rect_02"]
            assert m.header.frame_id == "camera_color_left"


def test_tf_static(bag: dict, kitti_date_dir: Path) -> None:
    from depthnet_nano_ros.kitti import load_raw_calibration

    qos = bag["__qos__"]["/tf_static"]
    assert len(qos) == 1 and qos[0].durability.name == "TRANSIENT_LOCAL"
    assert qos[0].reliability.name == "RELIABLE"
    [(t, msgtype, raw)] = bag["/tf_static"]
    assert t == min(t2 for topic in (IMAGE, CLOUD) for t2, _, _ in bag[topic])
    [tf] = TYPESTORE.deserialize_cdr(raw, msgtype).transforms
    assert (tf.header.frame_id, tf.child_frame_id) == ("velo_link", "camera_color_left")
    x, y, z, w = tf.transform.rotation.x, tf.transform.rotation.y, tf.transform.rotation.z, \
        tf.transform.rotation.w
    R = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                  [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                  [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
    T_velo_cam = np.eye(4)
    T_velo_cam[:3, :3] = R
    T_velo_cam[:3, 3] = [tf.transform.translation.x, tf.transform.translation.y,
                         tf.transform.translation.z]
    c = load_raw_calibration(kitti_date_dir)
    R4 = np.eye(4)
    R4[:3, :3] = c.R_rect_00
    P_velo = c.P_rect[2] @ R4 @ c.T_cam0_velo
    # K @ T reproduces P_rect_02 R_rect_00 T_velo (KITTI rotations have 7 digits: ~1e-6)
    np.testing.assert_allclose(c.K(2) @ np.linalg.inv(T_velo_cam)[:3], P_velo, atol=2e-3)
    pts = np.array([[10.0, 2.0, -1.0, 1.0], [40.0, -5.0, 0.5, 1.0]])
    proj_tf = (c.K(2) @ (np.linalg.inv(T_velo_cam) @ pts.T)[:3]).T
    proj_p = (P_velo @ pts.T).T
    np.testing.assert_allclose(proj_tf[:, :2] / proj_tf[:, 2:], proj_p[:, :2] / proj_p[:, 2:],
                               atol=0.01)  # pixels


def test_object_layout(kitti_object_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "object"
    rc = cli_main(["kitti2bag", str(kitti_object_dir.parent), "--frames", "5:7",
                   "--storage", "sqlite3", "--output", str(out), "--no-progress"])
    assert rc == 0
    bag = read_bag(out)
    infos = [TYPESTORE.deserialize_cdr(raw, mt) for _, mt, raw in bag[INFO]]
    assert [(m.height, m.width) for m in infos] == [(375, 1242), (374, 1238)]
    assert [t for t, _, _ in bag[IMAGE]] == [1_000_000_000, 1_100_000_000]
    assert [t for t, _, _ in bag[CLOUD]] == [1_000_000_000, 1_100_000_000]
    assert len(bag["/tf_static"]) == 2    # frames 5 and 6 come from different calibration days
    img = TYPESTORE.deserialize_cdr(bag[IMAGE][1][2], "sensor_msgs/msg/Image")
    with Image.open(kitti_object_dir / "image_2/000006.png") as ref:
        assert np.array_equal(np.asarray(img.data).reshape(374, 1238, 3), np.asarray(ref))


# ---------------------------------------------------------------- bad inputs: error, no bag

@pytest.fixture
def small_drive(kitti_date_dir: Path, kitti_drive_dir: Path, tmp_path: Path) -> Path:
    """A copy of frames 0-2 of drive 0005 (images and scans symlinked) to break."""
    date = tmp_path / "2011_09_26"
    drive = date / kitti_drive_dir.name
    for name in ("calib_cam_to_cam.txt", "calib_velo_to_cam.txt", "calib_imu_to_velo.txt"):
        (date).mkdir(exist_ok=True)
        shutil.copy(kitti_date_dir / name, date / name)
    for sensor, ext in (("image_02", "png"), ("velodyne_points", "bin")):
        (drive / sensor / "data").mkdir(parents=True)
        shutil.copy(kitti_drive_dir / sensor / "timestamps.txt", drive / sensor)
        for i in range(3):
            name = f"{i:010d}.{ext}"
            (drive / sensor / "data" / name).symlink_to(kitti_drive_dir / sensor / "data" / name)
    return date


def _convert_fails(date: Path, capsys: pytest.CaptureFixture, match: str) -> None:
    out = date.parent / "out_bag"
    before = sorted(os.listdir(date.parent))
    rc = cli_main(["kitti2bag", str(date), "--drive", "0005", "--output", str(out),
                   "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "depthnet_nano kitti2bag: error:" in err and match in err, err
    assert sorted(os.listdir(date.parent)) == before   # no bag, no temporary folder


def _drive(date: Path) -> Path:
    return date / "2011_09_26_drive_0005_sync"


def test_small_drive_converts(small_drive: Path) -> None:
    out = small_drive.parent / "ok"
    assert cli_main(["kitti2bag", str(small_drive), "--output", str(out), "--no-progress"]) == 0
    assert len(read_bag(out)[IMAGE]) == 3


def test_missing_scan(small_drive: Path, capsys: pytest.CaptureFixture) -> None:
    (_drive(small_drive) / "velodyne_points/data/0000000001.bin").unlink()
    _convert_fails(small_drive, capsys, "velodyne_points/data/0000000001.bin")


def test_missing_image(small_drive: Path, capsys: pytest.CaptureFixture) -> None:
    (_drive(small_drive) / "image_02/data/0000000002.png").unlink()
    _convert_fails(small_drive, capsys, "image_02/data/0000000002.png")


def test_missing_timestamp_line(small_drive: Path, capsys: pytest.CaptureFixture) -> None:
    stamps = _drive(small_drive) / "velodyne_points/timestamps.txt"
    stamps.write_text("\n".join(stamps.read_text().splitlines()[:2]) + "\n")
    _convert_fails(small_drive, capsys, "no timestamp for frame 2")


def test_truncated_scan(small_drive: Path, capsys: pytest.CaptureFixture) -> None:
    scan = _drive(small_drive) / "velodyne_points/data/0000000001.bin"
    data = scan.read_bytes()
    scan.unlink()
    scan.write_bytes(data[:-6])
    _convert_fails(small_drive, capsys, "truncated Velodyne scan")


def test_missing_calibration(small_drive: Path, capsys: pytest.CaptureFixture) -> None:
    (small_drive / "calib_velo_to_cam.txt").unlink()
    _convert_fails(small_drive, capsys, "calib_velo_to_cam.txt")


def test_corrupt_image_mid_write(small_drive: Path, capsys: pytest.CaptureFixture) -> None:
    png = _drive(small_drive) / "image_02/data/0000000002.png"
    png.unlink()
    png.write_bytes(b"not a png")      # found only while writing: the partial bag is removed
    _convert_fails(small_drive, capsys, "0000000002.png")


def test_existing_output_kept(small_drive: Path, capsys: pytest.CaptureFixture) -> None:
    out = small_drive.parent / "out_bag"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    _convert_fails(small_drive, capsys, "--overwrite")
    assert (out / "keep.txt").read_text() == "x"
    assert cli_main(["kitti2bag", str(small_drive), "--output", str(out), "--overwrite",
                     "--no-progress"]) == 0
    assert (out / "metadata.yaml").is_file() and not (out / "keep.txt").exists()


def test_interrupt_leaves_nothing(small_drive: Path) -> None:
    from depthnet_nano_ros.kitti import RawDrive
    from depthnet_nano_ros.kitti.bag_writer import plan_frames, write_bag

    def ctrl_c(done: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    before = sorted(os.listdir(small_drive.parent))
    frames = plan_frames(RawDrive(small_drive, "0005"))
    with pytest.raises(KeyboardInterrupt):
        write_bag(frames, small_drive.parent / "bag", storage="sqlite3", progress=ctrl_c)
    assert sorted(os.listdir(small_drive.parent)) == before
