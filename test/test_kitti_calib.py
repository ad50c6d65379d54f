"""KITTI readers: calibration parsed exactly, drives, timestamps, object layout, depth PNGs."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from depthnet_nano_ros.kitti import (
    KittiError,
    ObjectDataset,
    RawDrive,
    load_depth_png,
    load_object_calibration,
    load_raw_calibration,
    save_depth_png,
)
from depthnet_nano_ros.kitti.files import parse_timestamp_ns

# Numbers copied by hand from ../shared/data/kitti_sample/2011_09_26/calib_*.txt.
P_RECT_02 = [[7.215377e02, 0.0, 6.095593e02, 4.485728e01],
             [0.0, 7.215377e02, 1.728540e02, 2.163791e-01],
             [0.0, 0.0, 1.0, 2.745884e-03]]
R_RECT_00 = [[9.999239e-01, 9.837760e-03, -7.445048e-03],
             [-9.869795e-03, 9.999421e-01, -4.278459e-03],
             [7.402527e-03, 4.351614e-03, 9.999631e-01]]
K_02 = [[9.597910e02, 0.0, 6.960217e02], [0.0, 9.569251e02, 2.241806e02], [0.0, 0.0, 1.0]]
D_02 = [-3.691481e-01, 1.968681e-01, 1.353473e-03, 5.677587e-04, -6.770705e-02]
VELO_R = [[7.533745e-03, -9.999714e-01, -6.166020e-04],
          [1.480249e-02, 7.280733e-04, -9.998902e-01],
          [9.998621e-01, 7.523790e-03, 1.480755e-02]]
VELO_T = [-4.069766e-03, -7.631618e-02, -2.717806e-01]
IMU_T = [-8.086759e-01, 3.195559e-01, -7.997231e-01]


def test_raw_calibration_values_exact(kitti_date_dir: Path) -> None:
    c = load_raw_calibration(kitti_date_dir)
    assert np.array_equal(c.P_rect[2], P_RECT_02)
    assert np.array_equal(c.R_rect_00, R_RECT_00)
    assert np.array_equal(c.K_raw[2], K_02)
    assert np.array_equal(c.D_raw[2], D_02)
    assert np.array_equal(c.T_cam0_velo[:3, :3], VELO_R)
    assert np.array_equal(c.T_cam0_velo[:3, 3], VELO_T)
    assert np.array_equal(c.T_cam0_velo[3], [0, 0, 0, 1])
    assert np.array_equal(c.T_velo_imu[:3, 3], IMU_T)
    assert c.P_rect[3][0, 3] == -3.395242e02
    assert c.image_size(2) == (375, 1242)
    assert sorted(c.P_rect) == [0, 1, 2, 3]


@pytest.mark.parametrize("cam", [0, 1, 2, 3])
def test_true_rectified_camera_frame(kitti_date_dir: Path, cam: int) -> None:
    c = load_raw_calibration(kitti_date_dir)
    K, T = c.K(cam), c.T_cam_velo(cam)
    assert np.array_equal(K, c.P_rect[cam][:, :3])
    R4 = np.eye(4)
    R4[:3, :3] = R_RECT_00
    expected = c.P_rect[cam] @ R4 @ c.T_cam0_velo
    np.testing.assert_allclose(K @ T[:3], expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(T[:3, :3], np.asarray(R_RECT_00) @ np.asarray(VELO_R), atol=1e-15)
    assert np.array_equal(T[3], [0, 0, 0, 1])


def test_object_calibration_values_exact(kitti_object_dir: Path) -> None:
    c = load_object_calibration(kitti_object_dir / "calib" / "000006.txt")
    assert c.P_rect[2][0, 3] == 4.450382e01 and c.P_rect[2][1, 3] == -5.951107e-01
    assert c.R_rect_00[0, 1] == 9.791707e-03
    assert np.array_equal(c.T_cam0_velo[:3, 3], [-7.275538e-03, -6.324057e-02, -2.670414e-01])
    assert c.K(2)[0, 0] == 7.183351e02 and c.image_size(2) is None
    K, T = c.K(2), c.T_cam_velo(2)
    R4 = np.eye(4)
    R4[:3, :3] = c.R_rect_00
    np.testing.assert_allclose(K @ T[:3], c.P_rect[2] @ R4 @ c.T_cam0_velo, rtol=0, atol=1e-12)


def test_object_calibration_of_2011_09_26_equals_raw(kitti_object_dir: Path,
                                                     kitti_date_dir: Path) -> None:
    obj = load_object_calibration(kitti_object_dir / "calib" / "000005.txt")
    raw = load_raw_calibration(kitti_date_dir)
    assert np.array_equal(obj.projection(2), raw.projection(2))


def test_missing_calibration_file_named(kitti_date_dir: Path, tmp_path: Path) -> None:
    for name in ("calib_cam_to_cam.txt", "calib_imu_to_velo.txt"):
        shutil.copy(kitti_date_dir / name, tmp_path / name)
    with pytest.raises(KittiError, match="calib_velo_to_cam.txt"):
        load_raw_calibration(tmp_path)
    (tmp_path / "calib_velo_to_cam.txt").write_text("R: 1 0 0 0 1 0 0 0 1\n")
    with pytest.raises(KittiError, match=r"'T:'.*|no 'T"):
        load_raw_calibration(tmp_path)


def test_timestamp_parsing_exact() -> None:
    assert parse_timestamp_ns("2011-09-26 13:04:32.345808896") == 1317042272345808896
    assert parse_timestamp_ns("1970-01-01 00:00:01.000000001") == 1_000_000_001
    assert parse_timestamp_ns("1970-01-01 00:00:00.5") == 500_000_000
    with pytest.raises(ValueError):
        parse_timestamp_ns("26.09.2011 13:04")


def test_raw_drive_frames_images_scans(kitti_date_dir: Path, kitti_drive_dir: Path) -> None:
    drive = RawDrive(kitti_date_dir, "0005")
    assert drive.frames == list(range(10)) + list(range(10, 98, 3))
    assert drive.velodyne_frames == drive.frames
    img = drive.load_image(0)
    assert img.dtype == np.uint8 and img.shape == (375, 1242, 3)
    with Image.open(kitti_drive_dir / "image_02/data/0000000000.png") as ref:
        assert np.array_equal(img, np.asarray(ref))
    scan = drive.load_velodyne(3)
    path = kitti_drive_dir / "velodyne_points/data/0000000003.bin"
    assert scan.dtype == np.float32 and scan.shape == (path.stat().st_size // 16, 4)
    assert scan.tobytes() == path.read_bytes()
    assert drive.load_oxts(0).shape == (30,)


def test_line_i_of_timestamps_is_frame_i(kitti_date_dir: Path) -> None:
    drive = RawDrive(kitti_date_dir, "0005")
    # frame 13 is the 12th image on disk but line 13 (0-based) of the file
    assert drive.timestamp_ns(13, "image") == parse_timestamp_ns("2011-09-26 13:04:33.688768256")
    assert drive.timestamp_ns(0, "velodyne") == 1317042272335337762
    assert drive.timestamp_ns(153, "oxts") > drive.timestamp_ns(0, "oxts")
    with pytest.raises(KittiError, match=r"no timestamp for frame 154 .*timestamps.txt"):
        drive.timestamp_ns(154, "image")


def test_truncated_scan_and_missing_drive(kitti_date_dir: Path, tmp_path: Path) -> None:
    from depthnet_nano_ros.kitti.files import read_velodyne

    bad = tmp_path / "0000000000.bin"
    bad.write_bytes(b"\0" * 70)
    with pytest.raises(KittiError, match=r"truncated .*0000000000.bin"):
        read_velodyne(bad)
    with pytest.raises(KittiError, match="drive_0099_sync"):
        RawDrive(kitti_date_dir, "0099")


def test_object_dataset(kitti_object_dir: Path) -> None:
    ds = ObjectDataset(kitti_object_dir.parent)
    assert ds.frames[:3] == [5, 6, 12] and len(ds.frames) == 17
    assert ds.image_size(6) == (374, 1238)
    assert ds.load_image(6).shape == (374, 1238, 3)
    assert ds.load_velodyne(6).shape[1] == 4
    assert ds.timestamp_ns(6) - ds.timestamp_ns(5) == 100_000_000
    with pytest.raises(KittiError, match="000007"):
        ds.calibration(7)


def test_depth_png_round_trip(tmp_path: Path) -> None:
    depth = np.array([[0.0, 1.0, 80.5], [np.nan, 255.99609375, -3.0]], dtype=np.float32)
    path = tmp_path / "d.png"
    save_depth_png(path, depth)
    with Image.open(path) as img:
        raw = np.asarray(img)
    assert raw.dtype == np.uint16 and raw.tolist() == [[0, 256, 20608], [0, 65535, 0]]
    back = load_depth_png(path)
    assert back.dtype == np.float32
    assert back.tolist() == [[0.0, 1.0, 80.5], [0.0, 255.99609375, 0.0]]
    Image.fromarray(np.zeros((2, 2), np.uint8)).save(tmp_path / "8bit.png")
    with pytest.raises(KittiError, match="not 16-bit"):
        load_depth_png(tmp_path / "8bit.png")
