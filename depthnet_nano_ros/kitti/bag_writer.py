"""KITTI raw drive / object frames -> rosbag2 (mcap or sqlite3) with kitti2bag topic names.

Everything is checked before the first byte is written; the bag is written into a hidden
temporary folder beside the output and renamed into place only when complete, so an error or
Ctrl-C never leaves a half-written bag behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer

from depthnet_nano_ros.kitti import bag_messages as bm
from depthnet_nano_ros.kitti.calib import RawCalibration
from depthnet_nano_ros.kitti.errors import KittiError
from depthnet_nano_ros.kitti.files import read_rgb, read_velodyne, require_file
from depthnet_nano_ros.kitti.object_dataset import ObjectDataset
from depthnet_nano_ros.kitti.raw import RawDrive

__all__ = ["BagFrame", "BagSummary", "plan_frames", "topics_for", "write_bag"]

STORAGES = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}


@dataclass(frozen=True)
class BagFrame:
    """One frame to write: its files, stamps and calibration (all checked to exist)."""

    index: int
    image_path: Path
    velodyne_path: Path
    image_stamp_ns: int
    lidar_stamp_ns: int
    calib: RawCalibration


@dataclass(frozen=True)
class BagSummary:
    """What :func:`write_bag` wrote."""

    path: Path
    frames: int
    messages: int
    storage: str


def topics_for(cam: int) -> dict[str, str]:
    """kitti2bag topic names for camera `cam`: image, camera_info, cloud, tf_static."""
    frame = bm.CAMERA_FRAMES[cam]
    return {"image": f"/kitti/{frame}/image_raw", "camera_info": f"/kitti/{frame}/camera_info",
            "cloud": "/kitti/velo/pointcloud", "tf": "/tf_static"}


def _select(indices: Iterable[int], frames: slice | None) -> list[int]:
    indices = sorted(set(indices))
    if frames is None:
        return indices
    start = 0 if frames.start is None else frames.start
    stop = None if frames.stop is None else frames.stop
    return [i for i in indices if i >= start and (stop is None or i < stop)]


def _check_scan(path: Path) -> Path:
    require_file(path, "Velodyne scan")
    if path.stat().st_size % 16:
        read_velodyne(path)  # raises the truncated-scan error
    return path


def plan_frames(source: RawDrive | ObjectDataset, frames: slice | None = None) -> list[BagFrame]:
    """Check and list the frames of `source` in `frames` (index range [start, stop))."""
    if isinstance(source, RawDrive):
        cam_dir = source.sensor_dir(f"image_0{source.camera}") / "data"
        if not cam_dir.is_dir():
            raise KittiError(f"no images for camera {source.camera}: {cam_dir} does not exist "
                             "(pick another --camera)")
        chosen = _select(source.frames + source.velodyne_frames, frames)
    else:
        chosen = _select(source.frames, frames)
    if not chosen:
        span = "all" if frames is None else f"{frames.start or ''}:{frames.stop or ''}"
        raise KittiError(f"no frames of {source} in the range {span} (check --frames A:B)")
    out = []
    for i in chosen:
        image = require_file(source.image_path(i), f"image of frame {i}")
        scan = _check_scan(source.velodyne_path(i))
        if isinstance(source, RawDrive):
            calib = source.calib
            stamps = (source.timestamp_ns(i, "image"), source.timestamp_ns(i, "velodyne"))
        else:
            calib = source.calibration(i)
            stamps = (source.timestamp_ns(i),) * 2
        if source.camera not in calib.P_rect:
            raise KittiError(f"no P_rect_0{source.camera} in {calib.source}")
        out.append(BagFrame(i, image, scan, stamps[0], stamps[1], calib))
    return out


def _staging_dir(output: Path) -> Path:
    output.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{output.name}.partial-", dir=output.parent))


def write_bag(frames: list[BagFrame], output: str | Path, cam: int = 2, storage: str = "mcap",
              overwrite: bool = False, progress: Callable[[int], None] | None = None,
              ) -> BagSummary:
    """Write `frames` (from :func:`plan_frames`) as a rosbag2 folder `output`, atomically."""
    output = Path(output)
    if storage not in STORAGES:
        raise KittiError(f"unknown storage {storage!r}; use one of {sorted(STORAGES)}")
    if output.exists() and not overwrite:
        raise KittiError(f"output {output} exists; remove it or pass --overwrite")
    if not frames:
        raise KittiError("no frames to write")
    staging = _staging_dir(output)
    try:
        bag_dir = staging / output.name
        count = _write(frames, bag_dir, cam, STORAGES[storage], progress)
        if output.exists():
            trash = staging / ".replaced"
            os.replace(output, trash)
        os.replace(bag_dir, output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return BagSummary(output, len(frames), count, storage)


def _write(frames: list[BagFrame], bag_dir: Path, cam: int, plugin: StoragePlugin,
           progress: Callable[[int], None] | None) -> int:
    topics = topics_for(cam)
    frame_id = bm.CAMERA_FRAMES[cam]
    writer = Writer(bag_dir, version=9, storage_plugin=plugin)
    writer.open()
    try:
        conns = {key: writer.add_connection(
            topics[key], bm.TYPES[key], typestore=bm.TYPESTORE,
            offered_qos_profiles=[bm.STATIC_QOS if key == "tf" else bm.STREAM_QOS])
            for key in ("tf", "image", "camera_info", "cloud")}
        count, last_T = 0, None
        for n, f in enumerate(frames):
            T = np.linalg.inv(f.calib.T_cam_velo(cam))  # pose of the camera in velo_link
            msgs = []
            if last_T is None or not np.array_equal(T, last_T):
                stamp = min(f.image_stamp_ns, f.lidar_stamp_ns)
                msgs.append((stamp, "tf", bm.tf_msg(T, bm.VELO_FRAME, frame_id, stamp)))
                last_T = T
            pixels = read_rgb(f.image_path)
            if cam < 2:  # grey cameras: read_rgb replicated the grey channel
                pixels = np.ascontiguousarray(pixels[..., 0])
            msgs.append((f.lidar_stamp_ns, "cloud",
                         bm.cloud_msg(read_velodyne(f.velodyne_path), f.lidar_stamp_ns)))
            msgs.append((f.image_stamp_ns, "image", bm.image_msg(pixels, f.image_stamp_ns,
                                                                 frame_id)))
            msgs.append((f.image_stamp_ns, "camera_info", bm.camera_info_msg(
                f.calib, cam, pixels.shape[:2], f.image_stamp_ns, frame_id)))
            for stamp, key, msg in sorted(msgs, key=lambda m: m[0]):
                writer.write(conns[key], stamp, bm.serialize(msg))
                count += 1
            if progress is not None:
                progress(n + 1)
    finally:
        writer.close()
    return count

