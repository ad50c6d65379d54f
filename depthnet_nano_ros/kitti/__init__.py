"""KITTI raw / object / depth-benchmark readers, lidar ground truth and kitti2bag (ROS-free).

Bags are written with the `rosbags` library in :mod:`depthnet_nano_ros.kitti.bag_writer`,
imported only by the kitti2bag command.
"""

from depthnet_nano_ros.kitti.annotated import annotated_depth_path, load_depth_png, save_depth_png
from depthnet_nano_ros.kitti.calib import (
    RawCalibration,
    load_object_calibration,
    load_raw_calibration,
)
from depthnet_nano_ros.kitti.errors import KittiError
from depthnet_nano_ros.kitti.lidar_gt import frame_sparse_depth, sparse_depth
from depthnet_nano_ros.kitti.object_dataset import ObjectDataset, is_object_layout
from depthnet_nano_ros.kitti.raw import RawDrive

__all__ = [
    "KittiError",
    "ObjectDataset",
    "RawCalibration",
    "RawDrive",
    "annotated_depth_path",
    "frame_sparse_depth",
    "is_object_layout",
    "load_depth_png",
    "load_object_calibration",
    "load_raw_calibration",
    "save_depth_png",
    "sparse_depth",
]
