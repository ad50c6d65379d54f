"""Launch DepthNet Nano's depth_node (and RViz2 with rviz:=true).

    ros2 launch depthnet_nano_ros depth.launch.py image:=/camera/image_raw \\
        camera_info:=/camera/camera_info rviz:=true

depth_node (only it) gets config/fastdds_large_data.xml unless your environment names its own
Fast DDS configuration: Fast DDS's default transports (shared memory + UDPv4 on every
interface, so `ros2 topic echo` in another terminal, RViz and other machines see the outputs)
with a 32 MB shared-memory segment, so full-size depth and clouds reach best-effort subscribers.
`dds_profile:=none` leaves the node's environment as it is; `dds_profile:=FILE` uses FILE
(docs/ros_node.md, "DDS and large messages"). A depth_node that exits with an error ends the
launch with exit code 1; rviz:=true without rviz2 installed logs a warning and runs the node
alone.

Several cameras: `cameras:=front,left` starts one depth_node per camera in namespace
<namespace>/<camera>, each with its own topics (image:=image_raw -> /front/image_raw, ...;
relative topic names are required then). `lifecycle:=true` starts managed nodes that wait for
configure / activate (ros2 lifecycle, nav2_lifecycle_manager).
"""

import os

from ament_index_python.packages import (
    PackageNotFoundError,
    get_package_prefix,
    get_package_share_directory,
)
from launch.actions import (
    DeclareLaunchArgument,
    LogInfo,
    OpaqueFunction,
    RegisterEventHandler,
    Shutdown,
)
from launch.event_handlers import OnProcessExit
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
    ("cameras", "", "several cameras: comma-separated names (front,left); one node per camera "
                    "in <namespace>/<camera>, image and camera_info resolved inside it"),
    ("lifecycle", "false", "true = managed (lifecycle) nodes that wait for configure / "
                           "activate; false = they start publishing at once"),
    ("rviz", "false", "start RViz2 with config/depth.rviz (skipped with a warning if absent)"),
    ("camera_frame", "camera_color_left", "RViz fixed frame: the input image's frame_id"),
    ("dds_profile", "auto", "Fast DDS XML profile of depth_node: auto = the package's "
                            "config/fastdds_large_data.xml unless FASTDDS_DEFAULT_PROFILES_FILE "
                            "or FASTDDS_BUILTIN_TRANSPORTS is set; none = the environment's; "
                            "or a file"),
)


class NodeFailed(RuntimeError):
    """depth_node exited with an error: raised in the launch loop, so `ros2 launch` exits 1."""


def _share(*parts: str) -> str:
    """Path inside this package's share directory."""
    return os.path.join(get_package_share_directory(PACKAGE), *parts)


def _on_node_exit(event, context):
    """Any exit of depth_node ends the launch; a non-zero one makes it fail (unless the launch
    itself was stopping it, e.g. Ctrl-C: then launch's own log line reports the code)."""
    if event.returncode != 0 and not context.is_shutdown:
        raise NodeFailed(f"depth_node exited with code {event.returncode} (its log above "
                         "says why); stopping the launch")
    return [Shutdown(reason="depth_node exited")]


def camera_names(value: str) -> list[str]:
    """`front,left` or `[front, left]` -> ["front", "left"]; "" -> [] (one node, no camera)."""
    names = [n.strip() for n in value.strip().strip("[]").replace(" ", ",").split(",")]
    names = [n.strip("'\"") for n in names if n.strip("'\"")]
    for name in names:
        if not name.replace("_", "").isalnum() or name[0].isdigit():
            raise NodeFailed(f"cameras:={value}: {name!r} is not a valid namespace name (letters, "
                             "digits, underscores; not starting with a digit)")
    if len(set(names)) != len(names):
        raise NodeFailed(f"cameras:={value} names a camera twice")
    return names


def _depth_node(context, *args, **kwargs):
    """One node per camera (or one), with launch-argument overrides of the YAML."""
    params_file = LaunchConfiguration("params_file").perform(context)
    parameters = [params_file or _share("config", "depthnet_nano.yaml")]
    overrides = {}
    for argument, parameter in PARAMETER_OVERRIDES.items():
        value = LaunchConfiguration(argument).perform(context)
        if value:
            overrides[parameter] = value
    lifecycle = LaunchConfiguration("lifecycle").perform(context).lower()
    if lifecycle not in ("true", "false", "1", "0", "yes", "no"):
        raise NodeFailed(f"lifecycle:={lifecycle}: use true or false")
    overrides["lifecycle"] = lifecycle in ("true", "1", "yes")
    parameters.append(overrides)
    image = LaunchConfiguration("image").perform(context)
    info = LaunchConfiguration("camera_info").perform(context)
    namespace = LaunchConfiguration("namespace").perform(context).strip("/")
    cameras = camera_names(LaunchConfiguration("cameras").perform(context))
    if cameras:
        for arg, topic in (("image", image), ("camera_info", info)):
            if topic.startswith(("/", "~")):
                raise NodeFailed(
                    f"cameras:={','.join(cameras)} with {arg}:={topic}: an absolute name makes "
                    f"every node read the same topic; give a relative one, resolved in each "
                    f"camera's namespace ({arg}:={topic.lstrip('/~').split('/')[-1]} -> "
                    f"/{cameras[0]}/{topic.lstrip('/~').split('/')[-1]})")
    profile = _dds_profile(LaunchConfiguration("dds_profile").perform(context))
    actions = []
    for camera in cameras or [""]:
        node = Node(
            package=PACKAGE, executable="depth_node", name="depth_node",
            namespace="/".join(p for p in (namespace, camera) if p), parameters=parameters,
            output="screen",
            remappings=[("image", image), ("image/compressed", image + "/compressed"),
                        ("camera_info", info)],
            additional_env={"FASTDDS_DEFAULT_PROFILES_FILE": profile} if profile else None,
        )
        actions += [node, RegisterEventHandler(OnProcessExit(target_action=node,
                                                             on_exit=_on_node_exit))]
    return actions


def _dds_profile(value: str) -> str | None:
    """The Fast DDS XML file for depth_node, or None to keep the environment's settings."""
    if value in ("", "none"):
        return None
    if value == "auto":
        own = {"FASTDDS_DEFAULT_PROFILES_FILE", "FASTDDS_BUILTIN_TRANSPORTS"} & set(os.environ)
        return None if own else _share("config", "fastdds_large_data.xml")
    if not os.path.isfile(value):
        raise NodeFailed(f"dds_profile:={value} does not exist: pass a Fast DDS XML file, "
                         "auto (the package's profile) or none (your environment's settings)")
    return value


def _rviz_executable() -> str | None:
    """rviz2's executable in the ament index, or None when rviz2 is not installed."""
    try:
        path = os.path.join(get_package_prefix("rviz2"), "lib", "rviz2", "rviz2")
    except (PackageNotFoundError, ValueError):
        return None
    return path if os.path.isfile(path) else None


def _rviz(context, *args, **kwargs):
    """RViz2 when rviz:=true and it is installed; otherwise a warning (the node runs alone)."""
    if LaunchConfiguration("rviz").perform(context).lower() not in ("true", "1", "yes"):
        return []
    if _rviz_executable() is None:
        return [LogInfo(msg="WARNING: rviz:=true but rviz2 is not installed (no rviz2 in "
                            "AMENT_PREFIX_PATH): running depth_node without RViz; install "
                            "ros-<distro>-rviz2 or run rviz2 -d "
                            f"{_share('config', 'depth.rviz')} elsewhere")]
    return [Node(
        package="rviz2", executable="rviz2", name="rviz2", output="screen",
        namespace=LaunchConfiguration("namespace"),
        arguments=["-d", _share("config", "depth.rviz"),
                   "-f", LaunchConfiguration("camera_frame")],
    )]


def generate_launch_description() -> LaunchDescription:
    """Arguments, depth_node (its exit ends the launch) and (optionally) RViz2."""
    actions = [DeclareLaunchArgument(name, default_value=default, description=text)
               for name, default, text in ARGUMENTS]
    actions.append(OpaqueFunction(function=_depth_node))
    actions.append(OpaqueFunction(function=_rviz))
    return LaunchDescription(actions)
