"""Real frames for int8 calibration: a folder of images or an image topic in a bag."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from depthnet_nano_ros.errors import brief
from depthnet_nano_ros.inference.errors import InferenceError
from depthnet_nano_ros.model.transforms import prepare_input

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm")
DEFAULT_TOPIC = "/kitti/camera_color_left/image_raw"


def images_from_dir(directory: str | Path, limit: int | None = None) -> Iterator[np.ndarray]:
    """RGB uint8 frames of the images in `directory` (recursively, sorted by path)."""
    from PIL import Image

    directory = Path(directory)
    if not directory.is_dir():
        raise InferenceError(f"calibration image directory {directory} does not exist")
    paths = sorted(p for p in directory.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise InferenceError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {directory}: "
                             "point --calib-images at a folder of camera frames")
    for path in paths[:limit]:
        with Image.open(path) as img:
            yield np.asarray(img.convert("RGB"))


def images_from_bag(bag: str | Path, topic: str = DEFAULT_TOPIC,
                    limit: int | None = None) -> Iterator[np.ndarray]:
    """RGB uint8 frames of a sensor_msgs/Image or CompressedImage topic in a bag."""
    from rosbags.highlevel import AnyReader

    from depthnet_nano_ros.geometry.image_codec import decode_compressed, rgb_from_image

    bag = Path(bag)
    if not bag.exists():
        raise InferenceError(f"calibration bag {bag} does not exist")
    try:
        reader = AnyReader([bag])
        reader.open()
    except Exception as exc:  # rosbags raises several unrelated types for broken bags
        raise InferenceError(f"cannot read calibration bag {bag} ({brief(exc)}); pass a rosbag2 "
                             "directory (metadata.yaml + mcap/sqlite3) or a ROS 1 .bag") from exc
    try:
        conns = [c for c in reader.connections if c.topic == topic]
        if not conns:
            topics = sorted({c.topic for c in reader.connections})
            raise InferenceError(f"bag {bag} has no topic {topic!r}; its topics: {topics}; "
                                 "pass --calib-topic")
        count = 0
        for conn, _t, raw in reader.messages(connections=conns):
            msg = reader.deserialize(raw, conn.msgtype)
            if conn.msgtype.endswith("CompressedImage"):
                yield decode_compressed(msg.format, msg.data)
            else:
                yield np.ascontiguousarray(rgb_from_image(msg.encoding, msg.height, msg.width,
                                                          msg.step, msg.is_bigendian, msg.data))
            count += 1
            if limit is not None and count >= limit:
                return
    finally:
        reader.close()


def calibration_batches(input_size: tuple[int, int], images: str | Path | None = None,
                        bag: str | Path | None = None, topic: str = DEFAULT_TOPIC,
                        limit: int = 64) -> list[np.ndarray]:
    """Network inputs (1,3,h,w float32, prepared exactly as at inference) for calibration."""
    if (images is None) == (bag is None):
        raise InferenceError("int8 calibration needs exactly one source: --calib-images DIR or "
                             "--calib-bag BAG")
    frames = (images_from_dir(images, limit) if images is not None
              else images_from_bag(bag, topic, limit))  # type: ignore[arg-type]
    batches = [prepare_input(f, input_size) for f in frames]
    if not batches:
        raise InferenceError(f"the calibration source {images or bag} gave no frames")
    return batches
