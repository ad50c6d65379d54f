"""depthnet_nano_ros: DepthNet Nano monocular depth for ROS 2.

The sub-packages ``model``, ``inference``, ``geometry``, ``kitti``, ``evaluation`` and
``training`` import nothing from rclpy; ``ros`` holds the thin rclpy adapters and ``msg``
the generated ``DepthMetrics`` message (present once the package is built with CMake/colcon).
"""

__version__ = "0.1.0"
