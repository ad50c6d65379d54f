"""Camera-only self-supervised training (Monodepth2) on kitti2bag bags of the synthetic drive:
the view-synthesis loss against the drive's exact depth and poses, the scale from the camera
height, a short run through the CLI's configuration, and each bad input's error."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import torch

from depthnet_nano_ros import cli
from depthnet_nano_ros.kitti import RawDrive
from depthnet_nano_ros.kitti.annotated import annotated_depth_path, load_depth_png
from depthnet_nano_ros.model.checkpoint import load_checkpoint
from depthnet_nano_ros.model.transforms import resize_rgb
from depthnet_nano_ros.training import train_command
from depthnet_nano_ros.training.photometric import reprojection_loss
from depthnet_nano_ros.training.pose_net import PoseNet, pose_matrix
from depthnet_nano_ros.training.scale_recovery import ground_height, height_scale
from depthnet_nano_ros.training.self_supervised import SelfSupervisedTrainer
from depthnet_nano_ros.training.targets import resize_target

IMAGE = "/kitti/camera_color_left/image_raw"
SIZE = (128, 416)
CAMERA_HEIGHT = 1.65  #: KITTI's camera 2 above the road, as the synthetic drive mounts it

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def drive_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ssd")
    assert cli.main(["synth-drive", str(out), "--frames", "12", "--seed", "5", "--quiet"]) == 0
    return out


@pytest.fixture(scope="module")
def drive(drive_dir) -> RawDrive:
    return RawDrive(drive_dir / "2011_09_26", "9000")


@pytest.fixture(scope="module")
def bag(drive_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ssbag") / "bag"
    assert cli.main(["kitti2bag", str(drive_dir / "2011_09_26"), "--drive", "9000",
                     "--output", str(out), "--no-progress"]) == 0
    return out


def _frame(drive: RawDrive, i: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Image in [0, 1] and exact depth (sky = 80 m) at SIZE."""
    rgb = resize_rgb(drive.load_image(i), SIZE).astype(np.float32) / 255.0
    depth = resize_target(load_depth_png(annotated_depth_path(drive.drive_dir, i, kind="exact")),
                          SIZE, True)
    depth = np.where(depth > 0, depth, 80.0).clip(1.0, 80.0)
    return (torch.from_numpy(rgb).permute(2, 0, 1)[None],
            torch.from_numpy(depth.astype(np.float32))[None, None])


def _K(drive: RawDrive) -> np.ndarray:
    h, w = drive.image_size(0)
    return np.diag([SIZE[1] / w, SIZE[0] / h, 1.0]) @ drive.calib.K(2)


def test_view_synthesis_loss_is_lowest_at_the_true_depth_and_motion(drive):
    """The drive's exact depth and OXTS motion explain the neighbours best: the loss points
    the networks at the truth (and a wrong sign of the motion, or a wrong scale, is worse)."""
    lon = np.array([drive.load_oxts(i)[1] for i in (4, 5, 6)])
    metres = np.deg2rad(lon - lon[1]) * 6378137.0 * np.cos(np.deg2rad(drive.load_oxts(0)[0]))
    prev, _ = _frame(drive, 4)
    target, depth = _frame(drive, 5)
    nxt, _ = _frame(drive, 6)
    K = torch.from_numpy(_K(drive).astype(np.float32))[None]

    def loss(d: torch.Tensor, sign: float = 1.0) -> float:
        poses = []
        for m in (metres[0], metres[2]):  # camera z is the direction of travel
            T = torch.eye(4)[None]
            T[0, 2, 3] = -sign * float(m)
            poses.append(T)
        return reprojection_loss(target, [prev, nxt], d, poses, K, 1.0 / d)[1]["photometric"]

    truth = loss(depth)
    assert truth < 0.6 * loss(depth, sign=-1.0)
    for wrong in (depth * 0.7, depth * 1.4, torch.full_like(depth, 20.0)):
        assert truth < 0.7 * loss(wrong), (truth, loss(wrong))


def test_camera_height_gives_the_scale_of_exact_depth(drive):
    K = _K(drive)
    depths = [_frame(drive, i)[1][0, 0].numpy() for i in (0, 6, 11)]
    rng = np.random.default_rng(0)
    heights = [ground_height(d, K, rng) for d in depths]
    assert all(abs(h - CAMERA_HEIGHT) < 0.05 * CAMERA_HEIGHT for h in heights), heights
    scale, used = height_scale([d / 2.5 for d in depths], K, CAMERA_HEIGHT)
    assert used == 3 and scale == pytest.approx(2.5, rel=0.05)
    sky = np.full((64, 224), np.nan, np.float32)  # no ground to fit: a specific error
    with pytest.raises(Exception, match="no flat ground"):
        height_scale([sky], K, CAMERA_HEIGHT)


def test_pose_net_gives_rigid_transforms_near_the_identity_at_start():
    torch.manual_seed(0)
    with torch.no_grad():
        T = PoseNet()(torch.randn(2, 6, 64, 224))
    R = T[:, :3, :3]
    np.testing.assert_allclose((R @ R.transpose(1, 2)).detach().numpy(), np.eye(3)[None]
                               .repeat(2, 0), atol=1e-5)
    assert float((T - torch.eye(4)).abs().max()) < 0.05
    quarter = pose_matrix(torch.tensor([[0.0, np.pi / 2, 0.0]]), torch.zeros(1, 3))
    np.testing.assert_allclose(quarter[0, :3, :3].numpy() @ [1, 0, 0], [0, 0, -1], atol=1e-6)


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    train_command.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_a_short_run_lowers_the_photometric_error_and_records_the_scale(bag, tmp_path):
    args = _args("--bag", str(bag), "--image-topic", IMAGE, "--self-supervised",
                 "--camera-height", str(CAMERA_HEIGHT), "--val-fraction", "0.25",
                 "input_size=[64,224]", "epochs=100", "max_steps=24", "lr=1e-4",
                 "warmup_steps=0", "self_supervised.pose_warmup_steps=12",
                 f"out_dir={tmp_path / 'run'}", "progress=false", "image_every_steps=0")
    cfg = train_command._config(args, list(args.overrides))
    trainer = SelfSupervisedTrainer(cfg)
    try:
        before = trainer.validate()["photometric"]
        summary = trainer.fit()
        after = trainer.validate()["photometric"]
    finally:
        trainer.close()
    assert after < before, (before, after)
    scale = summary["scale"]["last.pt"]
    assert scale["from"] == "camera_height" and scale["frames"] > 0 and scale["scale"] > 0
    _, info = load_checkpoint(tmp_path / "run" / "last.pt")
    K = trainer.sequences[0].K
    assert info.focal_px == pytest.approx(K[0, 0] / scale["scale"])
    assert "pose_net" in info.extra["train_state"]  # resumable
    print(f"self-supervised, 24 steps at 64x224: held-out photometric {before:.4f} -> "
          f"{after:.4f}, camera-height scale {scale['scale']:.3f}")


def _fails(capsys, *argv: str) -> str:
    assert cli.main(["train", *argv]) == 2
    return capsys.readouterr().err


def test_bad_self_supervised_inputs_get_specific_errors(bag, drive, tmp_path, capsys):
    from rosbags.rosbag2 import Writer

    from depthnet_nano_ros.kitti import bag_messages as bm

    still = tmp_path / "still"  # a camera standing still: the same frame ten times
    writer = Writer(still, version=9)
    writer.open()
    conns = {t: writer.add_connection(t, ty, typestore=bm.TYPESTORE)
             for t, ty in ((IMAGE, bm.TYPES["image"]),
                           ("/kitti/camera_color_left/camera_info", bm.TYPES["camera_info"]))}
    rgb = drive.load_image(0)
    for k in range(10):
        stamp = 10**9 + k * 10**8
        writer.write(conns[IMAGE], stamp, bm.serialize(bm.image_msg(rgb, stamp, "cam")))
        writer.write(conns["/kitti/camera_color_left/camera_info"], stamp, bm.serialize(
            bm.camera_info_msg(drive.calib, 2, rgb.shape[:2], stamp, "cam")))
    writer.close()
    common = ["input_size=[64,224]", "max_steps=1"]
    err = _fails(capsys, "--bag", str(still), "--image-topic", IMAGE, "--self-supervised",
                 *common, f"out_dir={tmp_path / 'a'}")
    assert "moving camera" in err and "differ by less than" in err
    err = _fails(capsys, "--bag", str(bag), "--image-topic", IMAGE, "--camera-height", "1.6",
                 "--lidar-topic", "/kitti/velo/pointcloud", *common, f"out_dir={tmp_path / 'b'}")
    assert "--camera-height is for --self-supervised" in err
    err = _fails(capsys, "--bag", str(bag), "--image-topic", IMAGE, "--self-supervised",
                 "--depth-topic", "/d", *common, f"out_dir={tmp_path / 'c'}")
    assert "takes no --depth-topic" in err
    err = _fails(capsys, "--bag", str(bag), "--image-topic", IMAGE, "--self-supervised",
                 "--every", "4", *common, f"out_dir={tmp_path / 'd'}")
    assert "has 3 images" in err and "at least 5" in err
