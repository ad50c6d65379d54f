"""Images, lidar scans and camera geometry from a bag (rosbag2 mcap/sqlite3 or ROS 1), via rosbags.

The reader streams: a first pass collects header stamps, the pairs are chosen, and a second pass
yields each accepted (image, lidar scan) pair while holding only the messages still waiting for
their partner.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.highlevel import AnyReader
from rosbags.typesys import Stores, get_typestore
from scipy.spatial.transform import Rotation

from depthnet_nano_ros.errors import DepthNetNanoError, brief
from depthnet_nano_ros.evaluation.errors import EvaluationError
from depthnet_nano_ros.evaluation.pairing import Pairing
from depthnet_nano_ros.geometry.cloud import cloud_to_points
from depthnet_nano_ros.geometry.image_codec import decode_compressed, rgb_from_image

#: kitti2bag topic conventions (docs/ARCHITECTURE.md)
DEFAULT_IMAGE_TOPIC = "/kitti/camera_color_left/image_raw"
DEFAULT_LIDAR_TOPIC = "/kitti/velo/pointcloud"
DEFAULT_CAMERA_INFO_TOPIC = "/kitti/camera_color_left/camera_info"
TF_STATIC_TOPIC = "/tf_static"
_FLOAT32 = 7  # sensor_msgs/PointField FLOAT32
IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
CLOUD_TYPES = ("sensor_msgs/msg/PointCloud2",)


@dataclass(frozen=True)
class Topics:
    """The bag topics the evaluator reads."""

    image: str = DEFAULT_IMAGE_TOPIC
    lidar: str = DEFAULT_LIDAR_TOPIC
    camera_info: str = DEFAULT_CAMERA_INFO_TOPIC


@dataclass(frozen=True)
class CameraGeometry:
    """Intrinsics K of the (rectified) image and the lidar -> camera transform."""

    K: np.ndarray  # 3x3
    T_cam_lidar: np.ndarray  # 4x4, maps lidar points into the camera's optical frame
    source: str  # where they came from, for the summary


@dataclass
class Frame:
    """One accepted image / lidar pair."""

    stamp_ns: int
    rgb: np.ndarray  # HxWx3 uint8
    points: np.ndarray  # Nx3 float32, lidar frame
    lidar_stamp_ns: int


def header_stamp_ns(msg: Any) -> int:
    """A message's header stamp in nanoseconds."""
    return int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)


def raw_header_stamp_ns(raw: bytes | memoryview, ros2: bool) -> int:
    """Header stamp of a serialized header-first message (CDR after its 4-byte encapsulation
    header, or ROS 1 after the header's uint32 seq) without deserializing the payload."""
    if ros2:
        order = "<" if raw[1] & 1 else ">"
        sec, nanosec = struct.unpack_from(f"{order}iI", raw, 4)
    else:
        sec, nanosec = struct.unpack_from("<II", raw, 4)
    return sec * 1_000_000_000 + nanosec


def cloud_xyz(msg: Any) -> np.ndarray:
    """Nx3 float32 x, y, z of a (deserialized) PointCloud2, a view where the layout allows.

    NaN points are kept: the projection drops them.
    """
    fields = {f.name: f for f in msg.fields}
    missing = [n for n in "xyz" if n not in fields or fields[n].datatype != _FLOAT32]
    if missing or msg.is_bigendian:
        raise EvaluationError(
            f"lidar cloud needs little-endian float32 x, y, z fields, has "
            f"{[(f.name, f.datatype) for f in msg.fields]}: convert the cloud first"
        )
    offsets = [fields[n].offset for n in "xyz"]
    n_points = msg.height * msg.width
    if offsets == [0, 4, 8] and msg.point_step % 4 == 0 and msg.row_step == msg.width * \
            msg.point_step and len(msg.data) == n_points * msg.point_step:
        flat = np.frombuffer(msg.data, dtype="<f4")  # the common x, y, z[, ...] layout
        return flat.reshape(n_points, msg.point_step // 4)[:, :3]
    cols = cloud_to_points(msg.data, msg.height, msg.width, msg.point_step,
                           dict(zip("xyz", offsets, strict=True)))
    return np.stack([cols[n].reshape(-1) for n in "xyz"], axis=1)


def image_rgb(msg: Any) -> np.ndarray:
    """HxWx3 uint8 RGB of a (deserialized) sensor_msgs/Image or CompressedImage."""
    try:
        if hasattr(msg, "format"):  # CompressedImage (jpeg / png)
            return decode_compressed(msg.format, msg.data)
        return rgb_from_image(msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian,
                              msg.data)
    except DepthNetNanoError as exc:
        raise EvaluationError(f"image on the image topic cannot be decoded: {exc}") from exc


def transform_matrix(translation: Any, rotation: Any) -> np.ndarray:
    """4x4 matrix of a geometry_msgs/Transform (parent <- child)."""
    T = np.eye(4)
    T[:3, :3] = Rotation.from_quat([rotation.x, rotation.y, rotation.z, rotation.w]).as_matrix()
    T[:3, 3] = [translation.x, translation.y, translation.z]
    return T


def lookup_static(edges: Iterable[tuple[str, str, np.ndarray]], target: str,
                  source: str) -> np.ndarray | None:
    """T_target_source through a tree of static (parent, child, T_parent_child) edges, or None."""
    graph: dict[str, list[tuple[str, np.ndarray]]] = {}
    for parent, child, T in edges:
        graph.setdefault(parent, []).append((child, T))
        graph.setdefault(child, []).append((parent, np.linalg.inv(T)))
    found = {target: np.eye(4)}  # frame -> T_target_frame
    queue = [target]
    while queue:
        frame = queue.pop(0)
        for nxt, T_frame_nxt in graph.get(frame, []):
            if nxt not in found:
                found[nxt] = found[frame] @ T_frame_nxt
                queue.append(nxt)
    return found.get(source)


class BagSource:
    """An open bag with the image, lidar and camera_info topics checked."""

    def __init__(self, path: str | Path, topics: Topics = Topics(),
                 calib_dir: str | Path | None = None, need_lidar: bool = True) -> None:
        self.path = Path(path)
        self.need_lidar = need_lidar
        self.topics = topics
        self.calib_dir = calib_dir
        if not self.path.exists():
            raise EvaluationError(
                f"bag {self.path} does not exist: pass a rosbag2 directory (mcap or sqlite3) "
                "or a ROS 1 .bag file (make one with `depthnet_nano kitti2bag`)"
            )
        try:
            self.reader = AnyReader([self.path], default_typestore=get_typestore(Stores.LATEST))
            self.reader.open()
        except Exception as exc:  # rosbags raises several unrelated types for broken files
            raise EvaluationError(
                f"cannot read bag {self.path} ({brief(exc)}); pass a rosbag2 directory (with "
                "metadata.yaml, mcap or sqlite3) or a ROS 1 .bag file"
            ) from exc
        try:
            wanted = {topics.image: IMAGE_TYPES, topics.lidar: CLOUD_TYPES}
            if not need_lidar:
                del wanted[topics.lidar]
            self._conns = {name: self._connections(name, types)
                           for name, types in wanted.items()}
            wall, cpu = time.perf_counter(), time.thread_time()
            stamps, frame_ids = self._stamps()
        except BaseException:
            self.reader.close()
            raise
        #: (wall, CPU) seconds of the stamp pass: part of the pairing cost
        self.stamp_pass_s = (time.perf_counter() - wall, time.thread_time() - cpu)
        self.image_stamps, self.image_frame = stamps[topics.image], frame_ids[topics.image]
        self.lidar_stamps = stamps.get(topics.lidar, np.zeros(0, np.int64))
        self.lidar_frame = frame_ids.get(topics.lidar, "")

    def close(self) -> None:
        """Close the bag."""
        self.reader.close()

    def __enter__(self) -> BagSource:
        """Context manager: the bag closes on exit."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the bag."""
        self.close()

    def _connections(self, topic: str, types: tuple[str, ...]) -> list[Any]:
        conns = [c for c in self.reader.connections if c.topic == topic]
        wrong = [c.msgtype for c in conns if c.msgtype not in types]
        if not conns or wrong:
            have = "\n  ".join(f"{c.topic} [{c.msgtype}]" for c in self.reader.connections)
            what = f"is not in bag {self.path}" if not conns else \
                f"carries {wrong[0]}, not {' or '.join(types)}"
            raise EvaluationError(
                f"topic {topic} {what}; the bag has:\n  {have}\n"
                "pass the right one with --image-topic / --lidar-topic / --camera-info-topic"
            )
        return conns

    def _first(self, topic: str) -> Any | None:
        conns = [c for c in self.reader.connections if c.topic == topic]
        for conn, _t, raw in self.reader.messages(connections=conns):
            return self.reader.deserialize(raw, conn.msgtype)
        return None

    def _stamps(self) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        """Header stamps of every image / lidar message in bag order, and each frame id.

        One pass; stamps are read from the serialized header, checked against a full
        deserialization of each topic's first message.
        """
        stamps: dict[str, list[int]] = {name: [] for name in self._conns}
        frame_ids: dict[str, str] = {}
        conns = [c for group in self._conns.values() for c in group]
        for conn, _t, raw in self.reader.messages(connections=conns):
            stamp = raw_header_stamp_ns(raw, self.reader.is2)
            if conn.topic not in frame_ids:
                msg = self.reader.deserialize(raw, conn.msgtype)
                frame_ids[conn.topic] = msg.header.frame_id
                if header_stamp_ns(msg) != stamp:  # not a header-first layout: stay exact
                    raise EvaluationError(
                        f"cannot read header stamps of {conn.topic} [{conn.msgtype}] in "
                        f"{self.path}: the topic must carry a message that starts with a Header"
                    )
            stamps[conn.topic].append(stamp)
        return ({k: np.array(v, dtype=np.int64) for k, v in stamps.items()}, frame_ids)

    def geometry(self) -> CameraGeometry:
        """K and T_cam_lidar from --calib, else camera_info + /tf_static."""
        if self.calib_dir is not None:
            from depthnet_nano_ros.kitti.calib import load_raw_calibration

            try:
                calib = load_raw_calibration(self.calib_dir)
            except DepthNetNanoError as exc:
                raise EvaluationError(f"--calib {self.calib_dir}: {exc}") from exc
            return CameraGeometry(calib.K(2), calib.T_cam_velo(2),
                                  f"--calib {self.calib_dir} (camera 2)")
        return CameraGeometry(self.intrinsics(), self._transform(), "camera_info + /tf_static")

    def camera_info(self) -> Any | None:
        """The bag's first camera_info message (its P[0] is the focal the node uses), or None."""
        names = {c.topic for c in self.reader.connections}
        return self._first(self.topics.camera_info) if self.topics.camera_info in names else None

    def intrinsics(self) -> np.ndarray:
        """K of the image topic from its camera_info (P, or K when P is zero)."""
        names = {c.topic for c in self.reader.connections}
        info = self._first(self.topics.camera_info) if self.topics.camera_info in names else None
        if info is None:
            raise EvaluationError(
                f"bag {self.path} has no camera_info on {self.topics.camera_info}: pass "
                "--camera-info-topic, or --calib DATE_DIR (KITTI calib_*.txt folder)"
            )
        P = np.asarray(info.p, dtype=np.float64).reshape(3, 4)
        # Rectified images project with P; K is the unrectified camera (kitti2bag fills both).
        K = P[:, :3] if P[0, 0] > 0 else np.asarray(info.k, dtype=np.float64).reshape(3, 3)
        if K[0, 0] <= 0 or K[1, 1] <= 0:
            raise EvaluationError(
                f"camera_info on {self.topics.camera_info} has no focal length (uncalibrated): "
                "pass --calib DATE_DIR"
            )
        return K

    def _transform(self) -> np.ndarray:
        edges: list[tuple[str, str, np.ndarray]] = []
        conns = [c for c in self.reader.connections if c.topic == TF_STATIC_TOPIC]
        for conn, _t, raw in self.reader.messages(connections=conns) if conns else ():
            for tf in self.reader.deserialize(raw, conn.msgtype).transforms:
                edges.append((tf.header.frame_id.lstrip("/"), tf.child_frame_id.lstrip("/"),
                              transform_matrix(tf.transform.translation, tf.transform.rotation)))
        camera, lidar = self.image_frame.lstrip("/"), self.lidar_frame.lstrip("/")
        T = lookup_static(edges, camera, lidar)
        if T is None:
            raise EvaluationError(
                f"no transform from lidar frame {lidar!r} to camera frame {camera!r} in "
                f"{TF_STATIC_TOPIC} of {self.path} ({len(edges)} static transforms): "
                "pass --calib DATE_DIR (KITTI calib_*.txt folder)"
            )
        return T

    def frames(self, pairing: Pairing) -> Iterator[Frame]:
        """Yield every accepted pair, streaming (about in time order)."""
        wanted_lidar: dict[int, int] = {}  # lidar index -> images still needing it
        partner = dict(zip(pairing.image_index.tolist(), pairing.lidar_index.tolist(),
                           strict=True))
        for j in partner.values():
            wanted_lidar[j] = wanted_lidar.get(j, 0) + 1
        scans: dict[int, tuple[int, np.ndarray]] = {}  # lidar index -> (stamp, points)
        counters = {self.topics.image: 0, self.topics.lidar: 0}
        pending: dict[int, list[tuple[int, np.ndarray]]] = {}  # lidar idx -> (stamp, rgb)
        conns = [c for group in self._conns.values() for c in group]
        no_scan = np.zeros((0, 3), dtype=np.float32)
        remaining = len(partner)

        def emit(stamp: int, rgb: np.ndarray, j: int) -> Frame:
            nonlocal remaining
            remaining -= 1
            if j < 0:  # ground truth without lidar (annotated PNGs)
                return Frame(stamp, rgb, no_scan, -1)
            lidar_stamp, points = scans[j]
            wanted_lidar[j] -= 1
            if wanted_lidar[j] == 0:
                del scans[j]
            return Frame(stamp, rgb, points, lidar_stamp)

        for conn, _t, raw in self.reader.messages(connections=conns):
            if remaining == 0:
                return
            index = counters[conn.topic]
            counters[conn.topic] += 1
            if conn.topic == self.topics.image:
                if index not in partner:
                    continue
                msg = self.reader.deserialize(raw, conn.msgtype)
                j = partner[index]
                if j < 0 or j in scans:
                    yield emit(header_stamp_ns(msg), image_rgb(msg), j)
                else:
                    pending.setdefault(j, []).append((header_stamp_ns(msg), image_rgb(msg)))
            elif index in wanted_lidar:
                msg = self.reader.deserialize(raw, conn.msgtype)
                scans[index] = (header_stamp_ns(msg), cloud_xyz(msg))
                for stamp, rgb in pending.pop(index, []):
                    yield emit(stamp, rgb, index)

    def frames_at(self, pairing: Pairing, stamps: Iterable[int]) -> list[Frame]:
        """The frames of the given image stamps (a second, selective pass for the report)."""
        keep = {int(s) for s in stamps}
        sel = np.array([int(self.image_stamps[i]) in keep for i in pairing.image_index], bool)
        sub = Pairing(pairing.image_index[sel], pairing.lidar_index[sel],
                      pairing.offset_ns[sel], 0)
        return list(self.frames(sub))
