"""Training frames from a user's own rosbag2 / ROS 1 bag: images with lidar or a depth camera.

A data source (training YAML, or `depthnet_nano train --bag`)::

    kind: rosbag2
    path: BAG                      # rosbag2 folder (mcap / sqlite3) or ROS 1 .bag
    image_topic: /camera/image_raw
    camera_info_topic: /camera/camera_info
    lidar_topic: /velodyne_points  # lidar-supervised: the evaluator's pairing and projection
    depth_topic: /camera/depth     # or depth-camera-supervised (16UC1 mm / 32FC1 m, registered)
    max_time_offset: 0.05          # seconds between an image and its lidar scan / depth image
    every: 1                       # keep every n-th paired frame
    part: train | val | all        # val = the last val_fraction of the frames (in time)
    val_fraction: 0.1

Lidar targets are exactly what `depthnet_nano evaluate` scores against (camera_info K and the
/tf_static lidar -> camera transform, nearest return per pixel), so a fine-tuned model is
trained on the ground truth it is later measured with.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from depthnet_nano_ros.errors import DepthNetNanoError
from depthnet_nano_ros.evaluation.bag_source import (
    BagSource,
    CameraGeometry,
    Topics,
    image_rgb,
    raw_header_stamp_ns,
)
from depthnet_nano_ros.evaluation.offline import lidar_ground_truth, pair_frames
from depthnet_nano_ros.evaluation.pairing import pair_nearest
from depthnet_nano_ros.geometry.depth_encoding import DEPTH_ENCODINGS, decode_depth
from depthnet_nano_ros.training.errors import TrainingError

__all__ = ["MIN_FRAMES", "BagFrame", "bag_frames", "depth_image_metres"]

MIN_FRAMES = 5  #: fewer paired frames than this cannot be split into training and validation
DEPTH_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/Image")


@dataclass
class BagFrame:
    """One image of a bag with its sparse depth target (the training frame interface)."""

    rgb: np.ndarray
    depth: np.ndarray
    fx: float
    cy: float
    name: str

    def load(self) -> tuple[np.ndarray, np.ndarray, bool]:
        """(HxWx3 uint8 RGB, HxW metres with 0 = none, dense=False)."""
        return self.rgb, self.depth, False

    def focal_px(self) -> float:
        """fx (px) of the image, from the bag's camera_info."""
        return self.fx

    def principal_row(self) -> float:
        """cy (px) of the image, from the bag's camera_info."""
        return self.cy


def depth_image_metres(msg: Any) -> np.ndarray:
    """HxW float32 metres (0 = invalid) of a 16UC1 (mm, 0 invalid) or 32FC1 (m, NaN) Image."""
    if msg.encoding not in DEPTH_ENCODINGS:
        raise TrainingError(f"depth image encoding {msg.encoding!r} is not 16UC1 (millimetres) "
                            "or 32FC1 (metres): convert the depth topic first")
    depth = decode_depth(msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian,
                         msg.data)
    return np.where(depth > 0, depth, 0.0).astype(np.float32)  # NaN compares False


def _lidar_frames(source: BagSource, geometry: CameraGeometry,
                  max_offset: float) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """(stamp, rgb, sparse lidar depth) of every image paired with a scan."""
    pairing = pair_frames(source, max_offset)
    return [(f.stamp_ns, f.rgb, lidar_ground_truth(f, geometry))
            for f in source.frames(pairing)]


def _depth_frames(source: BagSource, depth_topic: str,
                  max_offset: float) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """(stamp, rgb, depth image in metres) of every image paired with a depth image."""
    reader = source.reader
    conns = [c for c in reader.connections if c.topic == depth_topic]
    if not conns or any(c.msgtype not in DEPTH_TYPES for c in conns):
        have = "\n  ".join(f"{c.topic} [{c.msgtype}]" for c in reader.connections)
        what = "is not in" if not conns else "is not a sensor_msgs/Image topic of"
        raise TrainingError(f"depth topic {depth_topic} {what} bag {source.path}; the bag "
                            f"has:\n  {have}\npass the right one with --depth-topic")
    stamps = np.array([raw_header_stamp_ns(raw, reader.is2)
                       for _c, _t, raw in reader.messages(connections=conns)], np.int64)
    pairing = pair_nearest(source.image_stamps, stamps, int(round(max_offset * 1e9)))
    partner = dict(zip(pairing.image_index.tolist(), pairing.lidar_index.tolist(),
                       strict=True))
    wanted = set(partner.values())
    images: dict[int, tuple[int, np.ndarray]] = {}
    depths: dict[int, np.ndarray] = {}
    counters: dict[str, int] = {}
    image_conns = [c for c in reader.connections if c.topic == source.topics.image]
    for conn, _t, raw in reader.messages(connections=image_conns + conns):
        index = counters.get(conn.topic, 0)
        counters[conn.topic] = index + 1
        if conn.topic == depth_topic and index in wanted:
            depths[index] = depth_image_metres(reader.deserialize(raw, conn.msgtype))
        elif conn.topic == source.topics.image and index in partner:
            msg = reader.deserialize(raw, conn.msgtype)
            images[index] = (int(source.image_stamps[index]), image_rgb(msg))
    out = []
    for i, j in sorted(partner.items(), key=lambda kv: images[kv[0]][0]):
        stamp, rgb = images[i]
        if depths[j].shape != rgb.shape[:2]:
            raise TrainingError(
                f"depth topic {depth_topic} is {depths[j].shape[1]}x{depths[j].shape[0]} but "
                f"the image topic {source.topics.image} is {rgb.shape[1]}x{rgb.shape[0]}: the "
                "depth must be registered to the colour camera (same size and frame; e.g. "
                "depth_image_proc/register or the driver's aligned-depth topic)")
        out.append((stamp, rgb, depths[j]))
    return out


def source_bag(spec: dict[str, Any], base: Path | None) -> tuple[Path, str, float]:
    """(bag path, part, val_fraction) of a rosbag2 source; relative paths from `base`."""
    if "path" not in spec or "image_topic" not in spec:
        raise TrainingError(f"rosbag2 source {spec} needs 'path' and 'image_topic'")
    path = Path(str(spec["path"])).expanduser()
    path = path if path.is_absolute() or base is None else base / path
    part, frac = spec.get("part", "all"), float(spec.get("val_fraction", 0.1))
    if part not in ("train", "val", "all") or not 0 < frac < 1:
        raise TrainingError(f"rosbag2 source: part {part!r} must be train, val or all and "
                            f"val_fraction {frac} in (0, 1)")
    return path, part, frac


def take_part(items: list, part: str, n_val: int) -> list:
    """The train (all but the last `n_val`), val (the last `n_val`) or all of time-ordered items."""
    return {"train": items[:-n_val], "val": items[-n_val:], "all": items}[part]


def bag_frames(spec: dict[str, Any], base: Path | None = None) -> list[BagFrame]:
    """The frames of one `kind: rosbag2` source (module doc), in time order."""
    path, part, frac = source_bag(spec, base)
    lidar, depth_topic = spec.get("lidar_topic"), spec.get("depth_topic")
    if bool(lidar) == bool(depth_topic):
        raise TrainingError("a rosbag2 source needs exactly one of lidar_topic (lidar-"
                            "supervised) or depth_topic (depth-camera-supervised)")
    topics = Topics(image=spec["image_topic"], lidar=lidar or Topics().lidar,
                    camera_info=spec.get("camera_info_topic") or Topics().camera_info)
    offset = float(spec.get("max_time_offset", 0.05))
    try:
        with BagSource(path, topics, need_lidar=bool(lidar)) as source:
            if lidar:
                geometry = source.geometry()
                K, raw = geometry.K, _lidar_frames(source, geometry, offset)
            else:
                K, raw = source.intrinsics(), _depth_frames(source, depth_topic, offset)
    except TrainingError:
        raise
    except DepthNetNanoError as exc:
        raise TrainingError(f"training bag {path}: {exc}") from exc
    raw = sorted(raw, key=lambda f: f[0])[::max(1, int(spec.get("every", 1)))]
    if len(raw) < MIN_FRAMES:
        raise TrainingError(
            f"training bag {path} has {len(raw)} images paired with "
            f"{lidar or depth_topic} within {offset:g} s; at least {MIN_FRAMES} are needed "
            "(record longer, lower 'every', or widen max_time_offset)")
    n_val = max(1, round(frac * len(raw)))
    raw = take_part(raw, part, n_val)
    kind = "lidar" if lidar else "depth"
    return [BagFrame(rgb, depth, float(K[0, 0]), float(K[1, 2]), f"{path.name}@{stamp}/{kind}")
            for stamp, rgb, depth in raw]
