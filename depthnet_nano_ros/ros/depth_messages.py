"""The depth node's output messages from numpy arrays: Image, CameraInfo copy, PointCloud2,
LaserScan (each with one copy of the data at most)."""

from __future__ import annotations

import numpy as np
from sensor_msgs.msg import CameraInfo, Image, LaserScan, PointCloud2, PointField
from std_msgs.msg import Header

from depthnet_nano_ros.geometry.camera import Intrinsics
from depthnet_nano_ros.geometry.cloud import depth_to_cloud
from depthnet_nano_ros.geometry.image_codec import array_to_image_fields
from depthnet_nano_ros.geometry.laserscan import depth_to_scan

__all__ = ["camera_info_for", "cloud_msg", "image_msg", "scan_msg"]

_CAMERA_INFO_FIELDS = tuple(CameraInfo.get_fields_and_field_types())


def image_msg(header: Header, arr: np.ndarray, encoding: str) -> Image:
    """numpy array -> sensor_msgs/Image with `header` (one copy of the pixels)."""
    fields = array_to_image_fields(arr, encoding)
    msg = Image(header=header, height=fields["height"], width=fields["width"],
                encoding=encoding, is_bigendian=fields["is_bigendian"], step=fields["step"])
    msg.data = fields["data"]
    return msg


def camera_info_for(info: CameraInfo, header: Header) -> CameraInfo:
    """A copy of `info` carrying `header` (the depth image's)."""
    out = CameraInfo()
    for name in _CAMERA_INFO_FIELDS:
        setattr(out, name, getattr(info, name))
    out.header = header
    return out


def cloud_msg(header: Header, depth: np.ndarray, k: Intrinsics, decimation: int,
              rgb: np.ndarray | None) -> PointCloud2:
    """The organized cloud of `depth` (depth_image_proc layout), optionally coloured."""
    cloud = depth_to_cloud(depth, k.fx, k.fy, k.cx, k.cy, decimation, rgb)
    msg = PointCloud2(
        header=header, height=cloud.height, width=cloud.width, is_bigendian=False,
        point_step=cloud.point_step, row_step=cloud.row_step, is_dense=False,
        fields=[PointField(name=f.name, offset=f.offset, datatype=f.datatype, count=f.count)
                for f in cloud.fields])
    msg.data = cloud.data
    return msg


def scan_msg(header: Header, depth: np.ndarray, k: Intrinsics, rows: int, range_min: float,
             range_max: float, frame_id: str = "") -> LaserScan:
    """The LaserScan of the band of `rows` rows around cy (depthimage_to_laserscan)."""
    scan = depth_to_scan(depth, k.fx, k.cx, k.cy, rows, range_min, range_max)
    out_header = Header(stamp=header.stamp, frame_id=frame_id or header.frame_id)
    msg = LaserScan(header=out_header, angle_min=scan.angle_min, angle_max=scan.angle_max,
                    angle_increment=scan.angle_increment, time_increment=0.0, scan_time=0.0,
                    range_min=scan.range_min, range_max=scan.range_max)
    msg.ranges = scan.ranges  # float32 array: no per-element conversion
    return msg
