"""The depth node's parameters: one table that the node, the YAML, the launch file and the docs
follow (tests check the others against it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

from depthnet_nano_ros.errors import DepthNetNanoError
from depthnet_nano_ros.geometry.depth_encoding import DEPTH_ENCODINGS
from depthnet_nano_ros.geometry.temporal_filter import TemporalSettings


class NodeConfigError(DepthNetNanoError):
    """A parameter value the node cannot run with."""


@dataclass(frozen=True)
class Param:
    """One declared parameter: name, default (its type is the parameter type), meaning."""

    name: str
    default: Any
    description: str
    read_only: bool = False


RELIABILITIES = ("best_effort", "reliable")

#: Every parameter of depth_node. read_only ones are fixed at start-up (reload the node).
PARAMETERS: tuple[Param, ...] = (
    Param("lifecycle", False, "true = a managed node that waits for configure / activate "
          "(ros2 lifecycle, nav2_lifecycle_manager); false = it configures and activates "
          "itself at start", read_only=True),
    Param("model.checkpoint", "", "checkpoint .pt; empty = the shipped reference checkpoint",
          read_only=True),
    Param("model.engine", "", "exported engine (.onnx, .engine/.plan, torch2trt .pth); "
          "empty = run the checkpoint", read_only=True),
    Param("model.backend", "auto", "auto | torch | onnxruntime | tensorrt | torch2trt",
          read_only=True),
    Param("model.precision", "fp32", "fp32 | fp16 | int8 (GPU backends)", read_only=True),
    Param("model.input_height", 0, "network input height (multiple of 32); 0 = the checkpoint's",
          read_only=True),
    Param("model.input_width", 0, "network input width (multiple of 32); 0 = the checkpoint's",
          read_only=True),
    Param("model.cpu_threads", 0, "onnxruntime CPU threads; 0 = one per physical core",
          read_only=True),
    Param("model.cpu_spin", True, "onnxruntime CPU workers spin between ops (lowest latency); "
          "false = they sleep (kinder to other processes on a busy CPU)", read_only=True),
    Param("input.compressed", False, "subscribe image/compressed (jpeg/png) instead of image",
          read_only=True),
    Param("input.max_pixels", 16_777_216, "largest accepted input (width x height; a "
          "compressed image's declared size is checked before decoding); larger ones are "
          "skipped as bad_input"),
    Param("depth.min", 1.0, "metres; depth below it is published as NaN"),
    Param("depth.max", 80.0, "metres; depth above it is published as NaN"),
    Param("depth.encoding", "32FC1", "32FC1 (metres, NaN invalid) | 16UC1 (millimetres, 0 "
          "invalid, at most 65.535 m; REP 118); points use the encoded depth"),
    Param("cloud.decimation", 1, "points = every k-th pixel in both axes (1, 2, 4, ...)"),
    Param("cloud.color", False, "add a packed 'rgb' field from the input image to points"),
    Param("scan.rows", 9, "LaserScan `scan`: rows of the band around the optical centre cy "
          "(the nearest valid depth per column wins)"),
    Param("scan.range_min", 1.0, "metres; shorter scan ranges are dropped"),
    Param("scan.range_max", 30.0, "metres; longer scan ranges are dropped (no return = NaN)"),
    Param("scan.frame_id", "", "frame_id of scan; empty = the image's (optical) frame"),
    Param("temporal.enable", False, "steadier depth: blend with the previous frame where the "
          "image and the depth did not change (geometry/temporal_filter.py); no lag on motion"),
    Param("temporal.alpha", 0.4, "weight of the previous depth on unchanged pixels, [0, 1)"),
    Param("temporal.image_threshold", 10.0, "block-mean grey change (0-255) that counts as "
          "motion: those pixels take the new depth at once"),
    Param("temporal.depth_threshold", 0.25, "relative depth change that counts as a change"),
    Param("colormap.min", 1.0, "metres mapped to the first turbo colour of depth/colored"),
    Param("colormap.max", 50.0, "metres mapped to the last turbo colour of depth/colored"),
    Param("qos.input.reliability", "best_effort",
          "best_effort (sensor data) | reliable, for image and camera_info", read_only=True),
    Param("qos.input.depth", 5, "history depth of the input subscriptions", read_only=True),
    Param("qos.output.reliability", "reliable",
          "reliable | best_effort, for depth, depth/camera_info, depth/colored, points, scan",
          read_only=True),
    Param("qos.output.depth", 1, "history depth of the publishers", read_only=True),
    Param("diagnostics.period", 1.0, "seconds between /diagnostics messages", read_only=True),
    Param("diagnostics.warn_throttle", 5.0,
          "seconds between repeated warnings about bad input", read_only=True),
    Param("diagnostics.input_timeout", 5.0, "seconds without an input image before a one-time "
          "warning (saying whether a publisher is matched); 0 = never", read_only=True),
)
PARAMETER_NAMES = tuple(p.name for p in PARAMETERS)


@dataclass
class NodeConfig:
    """Parameter values, typed."""

    lifecycle: bool
    checkpoint: str
    engine: str
    backend: str
    precision: str
    input_size: tuple[int, int] | None
    cpu_threads: int | None
    cpu_spin: bool
    compressed: bool
    max_pixels: int
    min_depth: float
    max_depth: float
    depth_encoding: str
    decimation: int
    color: bool
    scan_rows: int
    scan_range_min: float
    scan_range_max: float
    scan_frame_id: str
    temporal_enable: bool
    temporal: TemporalSettings
    colormap_min: float
    colormap_max: float
    input_qos: QoSProfile
    output_qos: QoSProfile
    diagnostics_period: float
    warn_throttle: float
    input_timeout: float


def make_qos(reliability: str, depth: int, what: str) -> QoSProfile:
    """QoS keep-last `depth` with the named reliability (volatile durability)."""
    if reliability not in RELIABILITIES:
        raise NodeConfigError(f"{what}.reliability is {reliability!r}; use one of {RELIABILITIES}")
    if depth < 1:
        raise NodeConfigError(f"{what}.depth is {depth}; use a history depth >= 1")
    policy = (ReliabilityPolicy.BEST_EFFORT if reliability == "best_effort"
              else ReliabilityPolicy.RELIABLE)
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=int(depth), reliability=policy)


def temporal_settings(values: dict[str, Any]) -> TemporalSettings:
    """TemporalSettings of the temporal.* values (raises NodeConfigError)."""
    try:
        return TemporalSettings(alpha=values["temporal.alpha"],
                                image_threshold=values["temporal.image_threshold"],
                                depth_threshold=values["temporal.depth_threshold"])
    except ValueError as exc:
        raise NodeConfigError(f"temporal.*: {exc}") from exc


def check_dynamic(values: dict[str, Any]) -> None:
    """Validate the run-time adjustable values (raises NodeConfigError)."""
    lo, hi = values["depth.min"], values["depth.max"]
    if not 0 <= lo < hi:
        raise NodeConfigError(f"depth.min={lo} / depth.max={hi}: need 0 <= depth.min < depth.max")
    if values["depth.encoding"] not in DEPTH_ENCODINGS:
        raise NodeConfigError(f"depth.encoding={values['depth.encoding']!r}: use one of "
                              f"{', '.join(DEPTH_ENCODINGS)}")
    if values["input.max_pixels"] < 1:
        raise NodeConfigError(f"input.max_pixels={values['input.max_pixels']}: use a pixel "
                              "count >= 1 (default 16777216 = 4096 x 4096)")
    if values["cloud.decimation"] < 1:
        raise NodeConfigError(f"cloud.decimation={values['cloud.decimation']}: use 1, 2, 4, ...")
    if values["scan.rows"] < 1:
        raise NodeConfigError(f"scan.rows={values['scan.rows']}: use at least 1 row")
    if not 0 <= values["scan.range_min"] < values["scan.range_max"]:
        raise NodeConfigError(f"scan.range_min={values['scan.range_min']} / scan.range_max="
                              f"{values['scan.range_max']}: need 0 <= range_min < range_max")
    temporal_settings(values)
    if not values["colormap.min"] < values["colormap.max"]:
        raise NodeConfigError(
            f"colormap.min={values['colormap.min']} must be below colormap.max="
            f"{values['colormap.max']}"
        )


def config_from_values(values: dict[str, Any]) -> NodeConfig:
    """Parameter name -> value dict -> NodeConfig (raises NodeConfigError)."""
    check_dynamic(values)
    h, w = values["model.input_height"], values["model.input_width"]
    if values["model.cpu_threads"] < 0:
        raise NodeConfigError(f"model.cpu_threads={values['model.cpu_threads']}: use a number "
                              "of threads >= 1, or 0 for one per physical core")
    if values["diagnostics.input_timeout"] < 0:
        raise NodeConfigError(f"diagnostics.input_timeout={values['diagnostics.input_timeout']}"
                              ": use seconds >= 0 (0 = no warning)")
    if (h == 0) != (w == 0):
        raise NodeConfigError(
            f"model.input_height={h} and model.input_width={w}: set both (multiples of 32) or "
            "leave both 0 for the checkpoint's size"
        )
    return NodeConfig(
        lifecycle=values["lifecycle"], checkpoint=values["model.checkpoint"],
        engine=values["model.engine"],
        backend=values["model.backend"], precision=values["model.precision"],
        input_size=(h, w) if h else None, cpu_threads=values["model.cpu_threads"] or None,
        cpu_spin=values["model.cpu_spin"], compressed=values["input.compressed"],
        max_pixels=values["input.max_pixels"],
        min_depth=values["depth.min"], max_depth=values["depth.max"],
        depth_encoding=values["depth.encoding"], decimation=values["cloud.decimation"],
        color=values["cloud.color"], scan_rows=values["scan.rows"],
        scan_range_min=values["scan.range_min"], scan_range_max=values["scan.range_max"],
        scan_frame_id=values["scan.frame_id"], temporal_enable=values["temporal.enable"],
        temporal=temporal_settings(values),
        colormap_min=values["colormap.min"], colormap_max=values["colormap.max"],
        input_qos=make_qos(values["qos.input.reliability"], values["qos.input.depth"],
                           "qos.input"),
        output_qos=make_qos(values["qos.output.reliability"], values["qos.output.depth"],
                            "qos.output"),
        diagnostics_period=values["diagnostics.period"],
        warn_throttle=values["diagnostics.warn_throttle"],
        input_timeout=values["diagnostics.input_timeout"],
    )


def declare_all(node: Node) -> dict[str, Any]:
    """Declare every parameter on `node` with a descriptor; returns name -> current value."""
    from rcl_interfaces.msg import ParameterDescriptor

    values = {}
    for p in PARAMETERS:
        desc = ParameterDescriptor(description=p.description, read_only=p.read_only)
        values[p.name] = node.declare_parameter(p.name, p.default, desc).value
    return values
