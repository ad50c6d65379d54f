"""A stand-alone camera for the CLI / launch tests: `python camera_publisher.py PREFIX HZ [DRIVE]`.

Publishes PREFIX/image (rgb8, reliable, like most camera drivers) and PREFIX/camera_info at HZ
until SIGINT/SIGTERM: KITTI frames 0-9 of DRIVE (image_02) when given, else a synthetic
1242x375 gradient with KITTI's P_rect_02. Meant to run with a plain environment (no DDS
profile), as an external camera would.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import numpy as np
import rclpy
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image

P_RECT_02 = [721.5377, 0.0, 609.5593, 44.85728, 0.0, 721.5377, 172.854, 0.2163791,
             0.0, 0.0, 1.0, 0.002745884]


def frames(drive: str | None) -> list[np.ndarray]:
    """HxWx3 uint8 RGB frames: KITTI frames 0-9 of `drive`, or one synthetic frame."""
    if drive:
        from PIL import Image as PILImage

        return [np.asarray(PILImage.open(Path(drive) / "image_02" / "data" / f"{i:010d}.png")
                           .convert("RGB")) for i in range(10)]
    v, u = np.mgrid[0:375, 0:1242]
    return [np.stack([u % 256, v % 256, (u + v) % 256], axis=-1).astype(np.uint8)]


def main() -> int:
    """Publish until stopped."""
    prefix, hz = sys.argv[1].rstrip("/"), float(sys.argv[2])
    rgbs = frames(sys.argv[3] if len(sys.argv) > 3 else None)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    rclpy.init(signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
    node = rclpy.create_node("test_camera")
    qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5,
                     reliability=ReliabilityPolicy.RELIABLE)
    image_pub = node.create_publisher(Image, f"{prefix}/image", qos)
    info_pub = node.create_publisher(CameraInfo, f"{prefix}/camera_info", qos)
    h, w = rgbs[0].shape[:2]
    t0, i = time.monotonic(), 0
    while not stop:
        info = CameraInfo(height=h, width=w, distortion_model="plumb_bob", p=P_RECT_02,
                          d=[0.0] * 5, k=[P_RECT_02[0], 0.0, P_RECT_02[2], 0.0, P_RECT_02[5],
                                          P_RECT_02[6], 0.0, 0.0, 1.0],
                          r=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0])
        info.header.frame_id = "camera_color_left"
        info.header.stamp = node.get_clock().now().to_msg()
        msg = Image(header=info.header, height=h, width=w, encoding="rgb8", step=w * 3)
        msg.data = rgbs[i % len(rgbs)].tobytes()
        info_pub.publish(info)
        image_pub.publish(msg)
        i += 1
        while not stop and time.monotonic() < t0 + i / hz:
            time.sleep(min(0.05, max(0.0, t0 + i / hz - time.monotonic())))
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
