"""Launch DepthNet Nano's depth_node (and RViz2 with rviz:=true).

    ros2 launch depthnet_nano_ros depth.launch.py image:=/camera/image_raw \\
        camera_info:=/camera/camera_info rviz:=true

Sets FASTDDS_DEFAULT_PROFILES_FILE to the package's large-message profile unless it is
already set, so full-resolution depth images and clouds arrive with best-effort QoS.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription

PACKAGE = "depthnet_nano_ros"
#: launch argument -> node parameter it overrides when not empty
PARAMETER_OVERRIDES = {"engine": "model.engine", "backend": "model.backend"}
ARGUMENTS = (
    ("image", "image", "input image topic (compressed input: <image>/compressed)"),
    ("camera_info", "camera_info", "CameraInfo topic of the input image"),
    ("params_file", "", "node parameters YAML; empty = the package's config/depthnet_nano.yaml"),
    ("engine", "", "exported engine file (overrides model.engine)"),
    ("backend", "", "auto | torch | onnxruntime | tensorrt | torch2trt (overrides model.backend)"),
    ("namespace", "", "namespace of the node and its output topics"),
    ("rviz", "false", "start RViz2 with config/depth.rviz"),
    ("camera_frame", "camera_color_left", "RViz fixed frame: the input image's frame_id"),
)


def _share(*parts: str) -> str:
    """Path inside this package's share directory."""
    return os.path.join(get_package_share_directory(PACKAGE), *parts)


def _depth_node(context, *args, **kwargs):
    """The node, with launch-argument overrides of the YAML resolved at launch time."""
    params_file = LaunchConfiguration("params_file").perform(context)
    parameters = [params_file or _share("config", "depthnet_nano.yaml")]
    overrides = {}
    for argument, parameter in PARAMETER_OVERRIDES.items():
        value = LaunchConfiguration(argument).perform(context)
        if value:
            overrides[parameter] = value
    if overrides:
        parameters.append(overrides)
    image = LaunchConfiguration("image").perform(context)
    return [Node(
        package=PACKAGE, executable="depth_node", name="depth_node",
        namespace=LaunchConfiguration("namespace"), parameters=parameters, output="screen",
        remappings=[("image", image), ("image/compressed", image + "/compressed"),
                    ("camera_info", LaunchConfiguration("camera_info"))],
    )]


def generate_launch_description() -> LaunchDescription:
    """Arguments, the DDS profile, depth_node and (optionally) RViz2."""
    actions = [DeclareLaunchArgument(name, default_value=default, description=text)
               for name, default, text in ARGUMENTS]
    if "FASTDDS_DEFAULT_PROFILES_FILE" not in os.environ:
        actions.append(SetEnvironmentVariable(
            "FASTDDS_DEFAULT_PROFILES_FILE", _share("config", "fastdds_large_data.xml")))
    actions.append(OpaqueFunction(function=_depth_node))
    actions.append(Node(
        package="rviz2", executable="rviz2", name="rviz2", output="screen",
        namespace=LaunchConfiguration("namespace"),
        arguments=["-d", _share("config", "depth.rviz"),
                   "-f", LaunchConfiguration("camera_frame")],
        condition=IfCondition(LaunchConfiguration("rviz")),
    ))
    return LaunchDescription(actions)
