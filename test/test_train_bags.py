"""Fine-tuning on bags: `depthnet_nano train --bag` with lidar (kitti2bag bags of real KITTI
frames) or a registered depth topic (a bag written from the synthetic drive's exact depth), a
held-out tail for validation, and a specific error for each bad input."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from depthnet_nano_ros import cli
from depthnet_nano_ros.kitti.raw import RawDrive
from depthnet_nano_ros.training import train_command
from depthnet_nano_ros.training.bag_dataset import bag_frames, depth_image_metres
from depthnet_nano_ros.training.errors import TrainingError
from depthnet_nano_ros.training.trainer import Trainer
from depthnet_nano_ros.training.validation import validate

IMAGE = "/kitti/camera_color_left/image_raw"
INFO = "/kitti/camera_color_left/camera_info"
LIDAR = "/kitti/velo/pointcloud"
DEPTH = "/camera/depth/image_rect"
SIZE = [64, 224]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def kitti_bag(kitti_date_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("kbag") / "bag"
    assert cli.main(["kitti2bag", str(kitti_date_dir), "--frames", "0:10", "--output",
                     str(out), "--no-progress"]) == 0
    return out


@pytest.fixture(scope="module")
def random_ckpt(tmp_path_factory) -> Path:
    from depthnet_nano_ros.model.checkpoint import save_checkpoint
    from depthnet_nano_ros.model.depthnet_nano import DepthNetNano

    torch.manual_seed(0)
    return save_checkpoint(tmp_path_factory.mktemp("rck") / "r.pt", DepthNetNano(),
                           input_size=tuple(SIZE))


def _write_depth_bag(drive_root: Path, out: Path, encoding: str = "16UC1",
                     depth_size: tuple[int, int] | None = None) -> Path:
    """image + camera_info (kitti2bag's messages) and DEPTH = the drive's exact depth."""
    from rosbags.rosbag2 import Writer

    from depthnet_nano_ros.kitti import bag_messages as bm
    from depthnet_nano_ros.kitti.annotated import annotated_depth_path, load_depth_png

    drive = RawDrive(drive_root / "2011_09_26", "9000")
    Img = bm.TYPESTORE.types["sensor_msgs/msg/Image"]
    writer = Writer(out, version=9)
    writer.open()
    conns = {t: writer.add_connection(t, ty, typestore=bm.TYPESTORE)
             for t, ty in ((IMAGE, bm.TYPES["image"]), (INFO, bm.TYPES["camera_info"]),
                           (DEPTH, bm.TYPES["image"]))}
    for i in drive.frames:
        stamp = drive.timestamp_ns(i, "image")
        rgb = drive.load_image(i)
        depth = load_depth_png(annotated_depth_path(drive.drive_dir, i, kind="exact"))
        if depth_size is not None:
            depth = depth[: depth_size[0], : depth_size[1]]
        if encoding == "16UC1":
            mm = np.round(depth * 1000)
            data = np.where(mm <= 65535, mm, 0).astype("<u2")  # beyond 65.535 m: no return
        else:
            data = np.where(depth > 0, depth, np.nan).astype("<f4")
        h, w = data.shape
        d = Img(header=bm.header(stamp, "camera_color_left"), height=h, width=w,
                encoding=encoding, is_bigendian=0, step=w * data.itemsize,
                data=np.frombuffer(data.tobytes(), np.uint8))
        for topic, msg in ((IMAGE, bm.image_msg(rgb, stamp, "camera_color_left")),
                           (INFO, bm.camera_info_msg(drive.calib, 2, rgb.shape[:2], stamp,
                                                     "camera_color_left")), (DEPTH, d)):
            writer.write(conns[topic], stamp, bm.serialize(msg))
    writer.close()
    return out


@pytest.fixture(scope="module")
def synth_drive(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sd")
    assert cli.main(["synth-drive", str(out), "--frames", "8", "--quiet"]) == 0
    return out


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    train_command.add_arguments(parser)
    return parser.parse_args(list(argv))


def _val_gain(args: argparse.Namespace, steps: int = 12) -> tuple[float, float]:
    """Validation abs_rel before and after `steps` optimizer steps of the --bag config."""
    cfg = train_command._config(args, list(args.overrides) + [f"max_steps={steps}"])
    trainer = Trainer(cfg)
    before = validate(trainer.model, trainer.val_ds, trainer.device)["abs_rel"]
    trainer.fit()
    after = validate(trainer.model, trainer.val_ds, trainer.device)["abs_rel"]
    return before, after


def test_lidar_supervised_fine_tuning_lowers_the_validation_error(kitti_bag, random_ckpt,
                                                                  tmp_path):
    args = _args("--bag", str(kitti_bag), "--image-topic", IMAGE, "--lidar-topic", LIDAR,
                 "--init", str(random_ckpt), "lr=1e-3", "epochs=50", "progress=false",
                 f"out_dir={tmp_path / 'run'}", f"input_size={SIZE}")
    cfg = train_command._config(args, list(args.overrides))
    assert cfg.input_size == tuple(SIZE) and len(cfg.train) == len(cfg.val) == 1
    frames = bag_frames(cfg.train[0]) + bag_frames(cfg.val[0])
    assert [f.name.split("@")[1] for f in frames] == sorted(f.name.split("@")[1] for f in frames)
    assert len(frames) == 10 and all((f.depth > 0).sum() > 10_000 for f in frames)
    before, after = _val_gain(args)
    assert after < 0.8 * before, (before, after)


def test_lidar_targets_equal_the_kitti_projection(kitti_bag, kitti_date_dir):
    from depthnet_nano_ros.kitti import frame_sparse_depth

    frames = bag_frames({"kind": "rosbag2", "path": str(kitti_bag), "image_topic": IMAGE,
                         "camera_info_topic": INFO, "lidar_topic": LIDAR, "part": "val"})
    drive = RawDrive(kitti_date_dir, "0005")
    assert len(frames) == 1  # the last 10 % of 10 frames
    want = frame_sparse_depth(drive, 9)
    # the evaluator's path (camera_info + /tf_static through quaternions) may move a handful
    # of the ~19,000 points across a pixel border
    assert (np.abs(frames[0].depth - want) > 1e-3).sum() <= 20
    assert abs(int((frames[0].depth > 0).sum()) - int((want > 0).sum())) <= 10
    assert frames[0].fx == pytest.approx(drive.calib.K(2)[0, 0])


@pytest.mark.parametrize("encoding", ["16UC1", "32FC1"])
def test_depth_topic_supervised_fine_tuning_lowers_the_validation_error(
        synth_drive, random_ckpt, tmp_path, encoding):
    bag = _write_depth_bag(synth_drive, tmp_path / "dbag", encoding)
    frames = bag_frames({"kind": "rosbag2", "path": str(bag), "image_topic": IMAGE,
                         "camera_info_topic": INFO, "depth_topic": DEPTH})
    from depthnet_nano_ros.kitti.annotated import annotated_depth_path, load_depth_png

    drive = RawDrive(synth_drive / "2011_09_26", "9000")
    exact = load_depth_png(annotated_depth_path(drive.drive_dir, 0, kind="exact"))
    if encoding == "16UC1":
        exact = np.where(np.round(exact * 1000) <= 65535, exact, 0.0)
    np.testing.assert_allclose(frames[0].depth, exact, atol=6e-4)  # mm rounding for 16UC1
    args = _args("--bag", str(bag), "--image-topic", IMAGE, "--depth-topic", DEPTH,
                 "--init", str(random_ckpt), "lr=1e-3", "epochs=50", "progress=false",
                 f"out_dir={tmp_path / 'run'}", f"input_size={SIZE}")
    before, after = _val_gain(args)
    assert after < 0.8 * before, (before, after)


def test_the_cli_trains_on_a_bag_and_reports_json(kitti_bag, random_ckpt, tmp_path, capsys):
    rc = cli.main(["train", "--bag", str(kitti_bag), "--image-topic", IMAGE, "--lidar-topic",
                   LIDAR, "--init", str(random_ckpt), "max_steps=2", "progress=false",
                   f"out_dir={tmp_path / 'cli'}", f"input_size={SIZE}"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary and (tmp_path / "cli" / "last.pt").is_file()


def _fails(capsys, *argv: str) -> str:
    assert cli.main(["train", *argv, "max_steps=1", "progress=false"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_bad_bag_inputs_get_specific_errors(kitti_bag, synth_drive, tmp_path, capsys):
    err = _fails(capsys, "--bag", str(kitti_bag), "--image-topic", "/nope", "--lidar-topic",
                 LIDAR, f"out_dir={tmp_path / 'a'}")
    assert "/nope is not in bag" in err and IMAGE in err  # lists what exists
    err = _fails(capsys, "--bag", str(kitti_bag), "--image-topic", IMAGE, "--camera-info-topic",
                 "/no/info", "--lidar-topic", LIDAR, f"out_dir={tmp_path / 'b'}")
    assert "no camera_info on /no/info" in err
    err = _fails(capsys, "--bag", str(kitti_bag), "--image-topic", IMAGE,
                 f"out_dir={tmp_path / 'c'}")
    assert "--lidar-topic" in err and "--depth-topic" in err
    err = _fails(capsys, "--bag", str(kitti_bag), "--image-topic", IMAGE, "--lidar-topic",
                 LIDAR, "--every", "4", f"out_dir={tmp_path / 'd'}")
    assert "has 3 images paired" in err and "at least 5" in err
    small = _write_depth_bag(synth_drive, tmp_path / "small", depth_size=(200, 600))
    err = _fails(capsys, "--bag", str(small), "--image-topic", IMAGE, "--depth-topic", DEPTH,
                 f"out_dir={tmp_path / 'e'}")
    assert "is 600x200 but the image topic" in err and "registered" in err
    err = _fails(capsys, "--bag", str(kitti_bag), "--image-topic", IMAGE, "--depth-topic", LIDAR,
                 f"out_dir={tmp_path / 'f'}")
    assert "is not a sensor_msgs/Image topic" in err


def test_depth_image_decoding_rejects_other_encodings():
    class Msg:
        encoding, is_bigendian, width, height, step = "rgb8", 0, 2, 1, 6
        data = bytes(6)

    with pytest.raises(TrainingError, match="not 16UC1"):
        depth_image_metres(Msg())
