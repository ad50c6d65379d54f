"""Depth image -> organized point cloud in the PointCloud2 layout (ROS-free, vectorized).

The maths is depth_image_proc's ``convertDepth``: for the pixel (u, v) with depth d (metres),
x = (u - cx) * d / fx, y = (v - cy) * d / fy, z = d, in the camera's optical frame, with
fx, fy, cx, cy from CameraInfo P. Invalid depth (NaN, inf, <= 0) gives a NaN point, so the
cloud stays organized (height x width) and is not dense. Output is little-endian.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from depthnet_nano_ros.errors import DepthNetNanoError

#: sensor_msgs/PointField.FLOAT32
FLOAT32 = 7


class CloudError(DepthNetNanoError):
    """Inputs that cannot make a point cloud (shapes, decimation)."""


@dataclass(frozen=True)
class CloudField:
    """One sensor_msgs/PointField: name, byte offset, datatype, count."""

    name: str
    offset: int
    datatype: int = FLOAT32
    count: int = 1


@dataclass(frozen=True)
class OrganizedCloud:
    """PointCloud2 payload: little-endian, organized height x width, not dense."""

    data: bytes
    height: int
    width: int
    fields: tuple[CloudField, ...]
    point_step: int

    @property
    def row_step(self) -> int:
        """Bytes per row of points."""
        return self.point_step * self.width


XYZ_FIELDS = (CloudField("x", 0), CloudField("y", 4), CloudField("z", 8))
XYZRGB_FIELDS = (*XYZ_FIELDS, CloudField("rgb", 12))


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 RGB -> HxW float32 holding 0x00RRGGBB bits (PCL / RViz 'rgb' field)."""
    c = rgb.astype(np.uint32)
    packed = (c[..., 0] << 16) | (c[..., 1] << 8) | c[..., 2]
    return packed.view(np.float32)


def depth_to_points(depth: np.ndarray, fx: float, fy: float, cx: float, cy: float,
                    decimation: int = 1, rgb: np.ndarray | None = None) -> np.ndarray:
    """Depth HxW (metres) -> h x w x 3 (or x 4 with packed rgb) float32, h = ceil(H / k)."""
    if depth.ndim != 2:
        raise CloudError(f"depth must be HxW, got shape {depth.shape}")
    k = int(decimation)
    if k < 1:
        raise CloudError(f"cloud decimation must be >= 1, got {decimation}")
    if fx == 0 or fy == 0:
        raise CloudError(f"focal length must be non-zero (fx={fx}, fy={fy})")
    if rgb is not None and rgb.shape[:2] != depth.shape:
        raise CloudError(
            f"colour image {rgb.shape[:2]} and depth {depth.shape} differ in size; pass the "
            "image the depth was estimated from"
        )
    d = np.asarray(depth[::k, ::k], dtype=np.float32)
    valid = np.isfinite(d) & (d > 0)
    z = np.where(valid, d, np.float32(np.nan))
    h, w = z.shape
    u = (np.arange(0, depth.shape[1], k, dtype=np.float32) - np.float32(cx)) / np.float32(fx)
    v = (np.arange(0, depth.shape[0], k, dtype=np.float32) - np.float32(cy)) / np.float32(fy)
    out = np.empty((h, w, 3 if rgb is None else 4), dtype=np.float32)
    np.multiply(z, u[None, :], out=out[:, :, 0])
    np.multiply(z, v[:, None], out=out[:, :, 1])
    out[:, :, 2] = z
    if rgb is not None:  # 0x00RRGGBB little-endian = bytes B, G, R, 0 (no uint32 temporaries)
        out_bytes = out.view(np.uint8).reshape(h, w, 16)
        for byte, channel in ((12, 2), (13, 1), (14, 0)):
            out_bytes[:, :, byte] = rgb[::k, ::k, channel]
        out_bytes[:, :, 15] = 0
    return out


def depth_to_cloud(depth: np.ndarray, fx: float, fy: float, cx: float, cy: float,
                   decimation: int = 1, rgb: np.ndarray | None = None) -> OrganizedCloud:
    """Depth HxW (metres) -> OrganizedCloud bytes + fields (x, y, z [, rgb] float32)."""
    pts = depth_to_points(depth, fx, fy, cx, cy, decimation, rgb)
    fields = XYZ_FIELDS if rgb is None else XYZRGB_FIELDS
    data = pts.astype("<f4", copy=False).tobytes()
    return OrganizedCloud(data, pts.shape[0], pts.shape[1], fields, 4 * pts.shape[2])


def cloud_to_points(data: bytes | memoryview, height: int, width: int, point_step: int,
                    offsets: dict[str, int]) -> dict[str, np.ndarray]:
    """Read float32 fields of a PointCloud2 buffer back as HxW arrays (views; for consumers)."""
    buf = np.frombuffer(data, dtype=np.uint8)
    if buf.size != height * width * point_step:
        raise CloudError(
            f"cloud buffer has {buf.size} bytes, expected height x width x point_step = "
            f"{height} x {width} x {point_step}"
        )
    return {
        name: np.ndarray((height, width), dtype="<f4", buffer=buf, offset=off,
                         strides=(width * point_step, point_step))
        for name, off in offsets.items()
    }
