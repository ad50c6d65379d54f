"""rosbags message objects for kitti2bag: Image, CameraInfo, PointCloud2 and TFMessage."""

from __future__ import annotations

from typing import Any

import numpy as np
from rosbags.interfaces import (
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)
from rosbags.typesys import Stores, get_typestore
from scipy.spatial.transform import Rotation

from depthnet_nano_ros.kitti.calib import RawCalibration

__all__ = ["CAMERA_FRAMES", "STATIC_QOS", "STREAM_QOS", "TYPESTORE", "TYPES"]

#: message definitions as in ROS 2 Humble (identical for these types up to Kilted)
TYPESTORE = get_typestore(Stores.ROS2_HUMBLE)
TYPES = {
    "image": "sensor_msgs/msg/Image",
    "camera_info": "sensor_msgs/msg/CameraInfo",
    "cloud": "sensor_msgs/msg/PointCloud2",
    "tf": "tf2_msgs/msg/TFMessage",
}
#: KITTI camera index -> kitti2bag frame id (also the topic namespace /kitti/<frame>/...)
CAMERA_FRAMES = {0: "camera_gray_left", 1: "camera_gray_right",
                 2: "camera_color_left", 3: "camera_color_right"}
VELO_FRAME = "velo_link"

_ZERO = QosTime(0, 0)  # "default" (infinite) deadline / lifespan / lease
#: /tf_static: latched like tf2_ros.StaticTransformBroadcaster (reliable, transient local)
STATIC_QOS = Qos(QosHistory.KEEP_LAST, 1, QosReliability.RELIABLE, QosDurability.TRANSIENT_LOCAL,
                 _ZERO, _ZERO, QosLiveliness.AUTOMATIC, _ZERO, False)
#: data topics: reliable volatile (matches reliable and best-effort subscribers)
STREAM_QOS = Qos(QosHistory.KEEP_LAST, 10, QosReliability.RELIABLE, QosDurability.VOLATILE,
                 _ZERO, _ZERO, QosLiveliness.AUTOMATIC, _ZERO, False)

_T = TYPESTORE.types
_FLOAT32 = 7  # sensor_msgs/PointField FLOAT32


def header(stamp_ns: int, frame_id: str) -> Any:
    """std_msgs/Header from integer nanoseconds."""
    sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
    return _T["std_msgs/msg/Header"](stamp=_T["builtin_interfaces/msg/Time"](
        sec=sec, nanosec=nanosec), frame_id=frame_id)


def image_msg(pixels: np.ndarray, stamp_ns: int, frame_id: str) -> Any:
    """sensor_msgs/Image: rgb8 for HxWx3, mono8 for HxW uint8 arrays."""
    h, w = pixels.shape[:2]
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    return _T[TYPES["image"]](
        header=header(stamp_ns, frame_id), height=h, width=w,
        encoding="mono8" if channels == 1 else "rgb8", is_bigendian=0, step=w * channels,
        data=np.ascontiguousarray(pixels, dtype=np.uint8).reshape(-1))


def camera_info_msg(calib: RawCalibration, cam: int, size: tuple[int, int], stamp_ns: int,
                    frame_id: str) -> Any:
    """sensor_msgs/CameraInfo, kitti2bag style: K_0x, D_0x, R_rect_0x, P_rect_0x (plumb_bob).

    Without raw intrinsics (object dataset) K = P[:, :3], D = 0, R = R_rect_00 (R0_rect).
    """
    P = calib.P_rect[cam]
    K = calib.K_raw.get(cam, P[:, :3])
    D = calib.D_raw.get(cam, np.zeros(5))
    R = calib.R_rect.get(cam, calib.R_rect_00)
    roi = _T["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0,
                                                  do_rectify=False)
    return _T[TYPES["camera_info"]](
        header=header(stamp_ns, frame_id), height=int(size[0]), width=int(size[1]),
        distortion_model="plumb_bob", d=np.asarray(D, dtype=np.float64).reshape(-1),
        k=np.asarray(K, dtype=np.float64).reshape(9), r=np.asarray(R, dtype=np.float64).reshape(9),
        p=np.asarray(P, dtype=np.float64).reshape(12), binning_x=0, binning_y=0, roi=roi)


def cloud_msg(scan: np.ndarray, stamp_ns: int, frame_id: str = VELO_FRAME) -> Any:
    """sensor_msgs/PointCloud2 (unorganized) with float32 x, y, z, intensity from an Nx4 scan."""
    scan = np.ascontiguousarray(scan, dtype="<f4")
    field = _T["sensor_msgs/msg/PointField"]
    fields = [field(name=n, offset=4 * j, datatype=_FLOAT32, count=1)
              for j, n in enumerate(("x", "y", "z", "intensity"))]
    return _T[TYPES["cloud"]](
        header=header(stamp_ns, frame_id), height=1, width=scan.shape[0], fields=fields,
        is_bigendian=False, point_step=16, row_step=16 * scan.shape[0],
        data=scan.reshape(-1).view(np.uint8), is_dense=bool(np.isfinite(scan).all()))


def tf_msg(T_parent_child: np.ndarray, parent: str, child: str, stamp_ns: int) -> Any:
    """tf2_msgs/TFMessage with one transform: pose of `child` in `parent` (p_parent = T p_child)."""
    T = np.asarray(T_parent_child, dtype=np.float64)
    x, y, z, w = Rotation.from_matrix(T[:3, :3]).as_quat()  # nearest rotation, scalar last
    geo = _T["geometry_msgs/msg/Transform"](
        translation=_T["geometry_msgs/msg/Vector3"](x=float(T[0, 3]), y=float(T[1, 3]),
                                                    z=float(T[2, 3])),
        rotation=_T["geometry_msgs/msg/Quaternion"](x=float(x), y=float(y), z=float(z),
                                                    w=float(w)))
    stamped = _T["geometry_msgs/msg/TransformStamped"](
        header=header(stamp_ns, parent), child_frame_id=child, transform=geo)
    return _T[TYPES["tf"]](transforms=[stamped])


def serialize(msg: Any) -> bytes | memoryview:
    """CDR bytes of a message built here."""
    return TYPESTORE.serialize_cdr(msg, msg.__msgtype__)
