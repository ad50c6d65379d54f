"""`depth_node`: camera images in; metric depth, its CameraInfo, a colour view, an organized
point cloud and a LaserScan out (REP 118 depth, depth_image_proc cloud layout,
depthimage_to_laserscan scan). A lifecycle node; `lifecycle:=false` (default) brings itself up.

Subscription callbacks only drop the message into a one-slot latest-frame buffer; an inference
thread runs the estimator on the newest frame and hands the result (again latest-wins) to a
publishing thread, so the node never queues stale frames and publishing overlaps inference.
Bad input is logged (throttled), counted on /diagnostics, and skipped.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, LaserScan, PointCloud2
from std_msgs.msg import Header

from depthnet_nano_ros.errors import DepthNetNanoError
from depthnet_nano_ros.geometry.camera import Intrinsics
from depthnet_nano_ros.geometry.colormap import colorize
from depthnet_nano_ros.geometry.depth_encoding import encode_depth
from depthnet_nano_ros.geometry.image_codec import (
    check_pixels,
    color_from_image,
    decode_compressed,
)
from depthnet_nano_ros.geometry.temporal_filter import TemporalFilter
from depthnet_nano_ros.inference.estimator import DepthEstimator
from depthnet_nano_ros.ros.camera_tracker import CameraTracker
from depthnet_nano_ros.ros.depth_messages import camera_info_for, cloud_msg, image_msg, scan_msg
from depthnet_nano_ros.ros.diagnostics import NodeStats, WarnThrottle, diagnostic_array
from depthnet_nano_ros.ros.heap import keep_freed_memory
from depthnet_nano_ros.ros.latest_frame import LatestFrameSlot
from depthnet_nano_ros.ros.node_parameters import (
    PARAMETER_NAMES,
    PARAMETERS,
    NodeConfigError,
    check_dynamic,
    config_from_values,
    declare_all,
    temporal_settings,
)
from depthnet_nano_ros.ros.qos_watch import QosWatch
from depthnet_nano_ros.ros.stop_signals import STOP, StopRequested

__all__ = ["PARAMETERS", "PARAMETER_NAMES", "DepthNode", "main"]


@dataclass
class _Result:
    """An estimated frame on its way from the inference stage to the publishing stage."""

    header: Header
    image: np.ndarray
    order: str
    depth: np.ndarray
    timings: dict[str, float]


class DepthNode(LifecycleNode):
    """The DepthNet Nano depth node (see docs/ros_node.md for topics and parameters).

    A managed node: configure loads the model and creates the topics, activate starts
    publishing, deactivate stops it, cleanup frees the model. With `lifecycle` false (the
    default) `main` configures and activates it at once; with true a lifecycle manager does.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("depth_node", **kwargs)
        self._cfg = config_from_values(declare_all(self))
        self.managed = self._cfg.lifecycle
        self.start_error: BaseException | None = None  # why the last configure failed
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._stats = NodeStats()
        self._camera = CameraTracker()
        self._temporal = TemporalFilter(self._cfg.temporal)
        self._depth_scale: float | None = None  # applied to the last frame (None: none yet)
        self._said_unscaled = False
        self._warn_throttle = WarnThrottle()
        self._watch = QosWatch(self, self._stats.problem, self._cfg.warn_throttle)
        self._estimator: DepthEstimator | None = None
        self._active = False
        self._entities: list[tuple[Callable[[Any], Any], Any]] = []  # (destroy, entity)
        self._workers: list[threading.Thread] = []
        self._stop = threading.Event()
        self._slot: LatestFrameSlot[Image | CompressedImage] = LatestFrameSlot()
        self._results: LatestFrameSlot[_Result] = LatestFrameSlot()
        self._image_topic = "image/compressed" if self._cfg.compressed else "image"

    # -- lifecycle transitions (executor thread) ------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load the model, create publishers, subscriptions, the diagnostics timer, workers."""
        cfg = self._cfg
        try:
            self._estimator = DepthEstimator.create(
                checkpoint=cfg.checkpoint or None, engine=cfg.engine or None,
                backend=cfg.backend, precision=cfg.precision, input_size=cfg.input_size,
                cpu_threads=cfg.cpu_threads, cpu_spin=cfg.cpu_spin)
        except Exception as exc:  # reported; the node stays unconfigured
            self.start_error = exc
            if self.managed:
                self.get_logger().error(f"configure failed: {exc}")
            return TransitionCallbackReturn.FAILURE
        self.start_error = None
        self._depth_pub = self._output(Image, "depth")
        self._info_pub = self._output(CameraInfo, "depth/camera_info")
        self._colored_pub = self._output(Image, "depth/colored")
        self._points_pub = self._output(PointCloud2, "points")
        self._scan_pub = self._output(LaserScan, "scan")
        self._keep(self.destroy_publisher,
                   self.create_publisher(DiagnosticArray, "/diagnostics", 10), "_diag_pub")
        image_type = CompressedImage if cfg.compressed else Image
        for msg_type, topic, callback in ((image_type, self._image_topic, self._on_image),
                                          (CameraInfo, "camera_info", self._on_camera_info)):
            self._keep(self.destroy_subscription, self.create_subscription(
                msg_type, topic, callback, cfg.input_qos, event_callbacks=(
                    self._watch.subscription(topic, cfg.input_qos, "qos.input.reliability"))))
        self._keep(self.destroy_timer,
                   self.create_timer(cfg.diagnostics_period, self._publish_diagnostics))
        # Two stages, each fed by a latest-wins slot: inference of frame n+1 overlaps the
        # publishing of frame n.
        self._stop = threading.Event()
        self._slot, self._results = LatestFrameSlot(), LatestFrameSlot()
        self._workers = [
            threading.Thread(target=self._loop, args=(self._slot, self._infer), name="infer",
                             daemon=True),  # daemon: never keeps a half-started node alive
            threading.Thread(target=self._loop, args=(self._results, self._publish),
                             name="publish", daemon=True)]
        for worker in self._workers:
            worker.start()
        if self.managed:
            self.get_logger().info(f"configured: {self._describe()}; activate to publish")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Start taking frames and publishing."""
        self._active = True
        self.get_logger().info(f"ready: {self._describe()}, subscribed to "
                               f"{self.resolve_topic_name(self._image_topic)}")
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop publishing; frames arriving while inactive are ignored."""
        self._active = False
        self.get_logger().info("inactive: not publishing (activate to resume)")
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Free the model and every topic (back to unconfigured)."""
        self._teardown()
        self.get_logger().info("cleaned up: model freed, topics removed")
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Free everything before the node finalizes."""
        self._teardown()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """After a failed transition: free everything and go back to unconfigured."""
        self._teardown()
        return TransitionCallbackReturn.SUCCESS

    def _describe(self) -> str:
        """Backend, CPU settings and network input size, for the log."""
        est = self._estimator
        h, w = est.input_size
        cpu = est.cpu_settings
        on_cpu = (f" on {cpu['threads']} CPU threads ({'spinning' if cpu['spin'] else 'sleeping'}"
                  f" workers, {cpu.get('path', '?').split(' (')[0]})" if cpu else "")
        return f"{est.backend} backend{on_cpu}, network input {h}x{w}"

    def _keep(self, destroy: Callable[[Any], Any], entity: Any, attr: str = "") -> Any:
        """Remember `entity` for `_teardown` (and as self.<attr> when given)."""
        self._entities.append((destroy, entity))
        if attr:
            setattr(self, attr, entity)
        return entity

    def _teardown(self) -> None:
        """Stop the workers (finishing their frame), destroy topics and timer, free the model."""
        self._active = False
        self._stop.set()
        self._slot.close()
        self._results.close()
        for worker in self._workers:
            worker.join(timeout=30.0)
        self._workers = []
        for destroy, entity in reversed(self._entities):
            destroy(entity)
        self._entities = []
        self._estimator = None

    def _output(self, msg_type: type, topic: str) -> Any:
        """A publisher with QoS qos.output.* whose incompatible subscribers are reported."""
        qos = self._cfg.output_qos
        return self._keep(self.destroy_publisher, self.create_publisher(
            msg_type, topic, qos, event_callbacks=self._watch.publisher(
                topic, qos, "qos.output.reliability")))

    # -- callbacks (executor thread) ------------------------------------------------------
    def _on_image(self, msg: Image | CompressedImage) -> None:
        if self._active:
            self._slot.put(msg)

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self._camera.info = msg

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        """Validate and apply run-time changes of depth range, cloud, scan and colormap settings."""
        values = {name: self.get_parameter(name).value for name in PARAMETER_NAMES}
        values.update({p.name: p.value for p in params})
        try:
            check_dynamic(values)
        except NodeConfigError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        old, self._cfg = self._cfg, dataclasses.replace(
            self._cfg, min_depth=values["depth.min"], max_depth=values["depth.max"],
            decimation=values["cloud.decimation"], color=values["cloud.color"],
            colormap_min=values["colormap.min"], colormap_max=values["colormap.max"],
            max_pixels=values["input.max_pixels"], depth_encoding=values["depth.encoding"],
            scan_rows=values["scan.rows"], scan_range_min=values["scan.range_min"],
            scan_range_max=values["scan.range_max"], scan_frame_id=values["scan.frame_id"],
            temporal_enable=values["temporal.enable"], temporal=temporal_settings(values))
        if (old.temporal, old.temporal_enable) != (self._cfg.temporal, self._cfg.temporal_enable):
            self._temporal = TemporalFilter(self._cfg.temporal)  # new settings: start over
        return SetParametersResult(successful=True)

    def _publish_diagnostics(self) -> None:
        h, w = self._estimator.input_size
        info = {"backend": self._estimator.backend, "input_size": f"{h}x{w}",
                "model": self._estimator.source, "image_topic":
                self.resolve_topic_name(self._image_topic)}
        info.update({f"cpu_{k}": str(v).lower() for k, v in
                     self._estimator.cpu_settings.items()})
        scale = self._depth_scale
        info["reference_focal_px"] = (f"{self._estimator.reference_focal_px:.2f}"
                                      + ("" if self._estimator.reference_focal_known
                                         else " (assumed KITTI)"))
        info["depth_scale"] = "none yet" if scale is None else f"{scale:.4f}"
        info["state"] = "active" if self._active else "inactive (lifecycle)"
        info["input"] = self._watch.check_input(self._slot.received, info["image_topic"],
                                                self._cfg.input_timeout)
        status = self._stats.status(
            f"{self.get_fully_qualified_name()}: depth estimation", self._estimator.backend,
            self._slot.received, self._slot.dropped + self._results.dropped, info,
            recent_s=max(5.0, 2 * self._cfg.diagnostics_period))
        self._diag_pub.publish(diagnostic_array(self.get_clock().now().to_msg(), status))

    # -- worker threads ---------------------------------------------------------------------
    def _loop(self, slot: LatestFrameSlot, step: Callable[[Any], None]) -> None:
        """Run `step` on the newest item of `slot` until shutdown; one bad item never stops it."""
        while not self._stop.is_set():
            item = slot.get(timeout=0.2)
            if item is None:
                continue
            try:
                step(item)
            except DepthNetNanoError as exc:
                self._reject(str(exc), key=type(exc).__name__)
            except Exception as exc:  # keep serving frames; the error is logged and counted
                self._stats.problem(f"{type(exc).__name__}: {exc}", kind="errors")
                self.get_logger().error(f"frame failed: {type(exc).__name__}: {exc}",
                                        throttle_duration_sec=self._cfg.warn_throttle)

    def _reject(self, reason: str, kind: str = "bad_input", key: str = "") -> None:
        """Count a bad input, name it on /diagnostics, warn (throttled per kind and `key`)."""
        self._stats.problem(reason, kind)
        if not self._warn_throttle.due(f"{kind}:{key}", self._cfg.warn_throttle):
            return
        if kind == "bad_input":
            self.get_logger().warning(f"skipped a frame: {reason}")
        else:
            self.get_logger().warning(f"published depth without depth/camera_info and points: "
                                      f"{reason}")

    def _decode(self, msg: Image | CompressedImage) -> tuple[np.ndarray, str]:
        """Image / CompressedImage -> (HxWx3 uint8 view, "rgb8" | "bgr8"), size-limited."""
        if isinstance(msg, CompressedImage):
            return decode_compressed(msg.format, msg.data, self._cfg.max_pixels), "rgb8"
        check_pixels(msg.width, msg.height, self._cfg.max_pixels)
        return color_from_image(msg.encoding, msg.height, msg.width, msg.step,
                                msg.is_bigendian, msg.data)

    def _intrinsics(self, size: tuple[int, int]) -> tuple[CameraInfo, Intrinsics] | None:
        """Latest CameraInfo checked against the image size; None (and a warning) if unusable."""
        try:
            return self._camera.intrinsics(size)
        except DepthNetNanoError as exc:
            self._reject(f"camera_info: {exc}", kind="bad_camera_info")
            return None

    def _focal(self, image_width: int) -> float | None:
        """fx (px) of the latest CameraInfo for this image width; None (said once) without one."""
        fx = self._camera.focal(image_width)
        if fx is None and not self._said_unscaled:
            self._said_unscaled = True
            est = self._estimator
            self.get_logger().info(
                f"no usable CameraInfo on {self.resolve_topic_name('camera_info')} yet: depth is "
                f"unscaled (metric for a camera whose focal length is {est.reference_focal_px:.1f}"
                f" px at network width {est.reference_width}); it follows the camera's P[0] once "
                "one arrives")
        return fx

    def _infer(self, msg: Image | CompressedImage) -> None:
        """Stage 1: decode and estimate; hands the result to the publishing stage."""
        t0 = time.perf_counter()
        image, order = self._decode(msg)
        t = {"decode": (time.perf_counter() - t0) * 1e3}
        focal = self._focal(image.shape[1])
        change = self._camera.change(image.shape[1], image.shape[0], focal)
        if change:
            self.get_logger().info(change)
        pred = self._estimator.estimate(image, order, focal_px=focal)
        self._depth_scale = pred.depth_scale
        t.update(pred.timings_ms)
        self._results.put(_Result(msg.header, image, order, pred.depth, t))

    def _publish(self, r: _Result) -> None:
        """Stage 2: mask the depth range, publish depth + info, colored and points on demand."""
        cfg, t = self._cfg, r.timings
        if not self._active:  # deactivated while this frame was being estimated
            return
        t1 = time.perf_counter()
        if cfg.temporal_enable:  # a new array: the estimator's buffer is not touched
            depth = self._temporal(r.image[:, :, ::-1] if r.order == "bgr8" else r.image,
                                   r.depth)
            t["temporal"] = (time.perf_counter() - t1) * 1e3
            t1 = time.perf_counter()
        else:
            depth = r.depth if r.depth.flags.writeable else r.depth.copy()
        with np.errstate(invalid="ignore"):
            depth[(depth < cfg.min_depth) | (depth > cfg.max_depth)] = np.nan
        camera = self._intrinsics(depth.shape)
        if camera is not None:
            self._info_pub.publish(camera_info_for(camera[0], r.header))
        encoded, depth = encode_depth(depth, cfg.depth_encoding)  # depth: as consumers read it
        self._depth_pub.publish(image_msg(r.header, encoded, cfg.depth_encoding))
        t2 = time.perf_counter()
        t["publish_depth"] = (t2 - t1) * 1e3
        outputs = []
        if self._colored_pub.get_subscription_count() > 0:
            colored = colorize(depth, cfg.colormap_min, cfg.colormap_max)
            self._colored_pub.publish(image_msg(r.header, colored, "rgb8"))
            outputs.append("colored")
        t3 = time.perf_counter()
        t["colorize"] = (t3 - t2) * 1e3
        if camera is not None and self._points_pub.get_subscription_count() > 0:
            rgb = None
            if cfg.color:
                rgb = r.image[:, :, ::-1] if r.order == "bgr8" else r.image
            self._points_pub.publish(cloud_msg(r.header, depth, camera[1], cfg.decimation, rgb))
            outputs.append("points")
        t4 = time.perf_counter()
        t["cloud"] = (t4 - t3) * 1e3
        if camera is not None and self._scan_pub.get_subscription_count() > 0:
            self._scan_pub.publish(scan_msg(r.header, depth, camera[1], cfg.scan_rows,
                                            cfg.scan_range_min, cfg.scan_range_max,
                                            cfg.scan_frame_id))
            outputs.append("scan")
            t["scan"] = (time.perf_counter() - t4) * 1e3
        t["total"] = sum(v for k, v in t.items() if k != "total")
        self._stats.frame_done(t, tuple(outputs))

    # -- shutdown -----------------------------------------------------------------------------
    def destroy_node(self) -> None:
        """Stop the workers (finishing their frame) before the node's entities go away."""
        self._teardown()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Console entry point: spin until SIGINT/SIGTERM, then shut everything down."""
    keep_freed_memory()
    STOP.install()  # no-op if the entry point did; rclpy installs none (stop_signals.py)
    node: DepthNode | None = None
    executor: SingleThreadedExecutor | None = None
    rc = 0
    try:
        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
        STOP.check("rclpy.init")
        executor = SingleThreadedExecutor()
        node = DepthNode()
        executor.add_node(node)
        if not node.managed:  # configure + activate now; else a lifecycle manager does
            if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
                raise node.start_error or DepthNetNanoError("depth_node: configure failed")
            STOP.check("model loading")
            node.trigger_activate()
        else:
            node.get_logger().info(
                f"lifecycle:=true: unconfigured, waiting for a lifecycle manager (ros2 lifecycle "
                f"set {node.get_fully_qualified_name()} configure, then activate)")
        STOP.urgent = False
        while not STOP.requested.is_set():
            executor.spin_once(timeout_sec=0.2)
    except (KeyboardInterrupt, ExternalShutdownException, StopRequested):
        pass
    except DepthNetNanoError as exc:
        rclpy.logging.get_logger("depth_node").fatal(str(exc))
        rc = 2
    finally:
        STOP.urgent = False
        if node is not None:
            node.destroy_node()
        if executor is not None:
            executor.shutdown()
        rclpy.try_shutdown()
    return rc
