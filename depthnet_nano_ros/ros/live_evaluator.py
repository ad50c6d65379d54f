"""Live evaluation (`depthnet_nano evaluate BAG --live`) against a running depth_node.

The evaluator plays the bag itself (image, camera_info and lidar on their recorded topics, with
the recorded timing divided by --rate), or with --no-play listens while `ros2 bag play` runs.
It subscribes to the node's depth, scores each frame as it arrives against the recorded lidar
scan paired with it (the offline pairs), publishes DepthMetrics on ``~/metrics`` and ends with the
offline summary. Images the node never answered are counted as dropped.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from rclpy.context import Context
from rclpy.duration import Duration
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
from tqdm import tqdm

from depthnet_nano_ros.errors import DepthNetNanoError
from depthnet_nano_ros.evaluation.bag_source import (
    TF_STATIC_TOPIC,
    BagSource,
    CameraGeometry,
    cloud_xyz,
    header_stamp_ns,
    raw_header_stamp_ns,
)
from depthnet_nano_ros.evaluation.errors import EvaluationError
from depthnet_nano_ros.evaluation.evaluate_command import finish, open_source
from depthnet_nano_ros.evaluation.live_scoring import LiveScorer
from depthnet_nano_ros.evaluation.metrics import METRIC_NAMES, EvalSettings, FrameScore
from depthnet_nano_ros.evaluation.offline import (
    EvaluationResult,
    GroundTruth,
    pair_frames,
    report_loader,
)
from depthnet_nano_ros.fileio import atomic_save_npy as save_npy_atomic
from depthnet_nano_ros.geometry.depth_encoding import DepthEncodingError, decode_depth
from depthnet_nano_ros.msg import DepthMetrics

RELIABLE = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100,
                      reliability=ReliabilityPolicy.RELIABLE)
#: ~/metrics keeps its history for late subscribers (plotters, tests): transient local
METRICS_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1000,
                         reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
#: /tf_static as tf2_ros.StaticTransformBroadcaster publishes it (latched for late joiners)
TF_STATIC_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100,
                           reliability=ReliabilityPolicy.RELIABLE,
                           durability=DurabilityPolicy.TRANSIENT_LOCAL)
ROS_TYPES = {"sensor_msgs/msg/Image": Image, "sensor_msgs/msg/CompressedImage": CompressedImage,
             "sensor_msgs/msg/CameraInfo": CameraInfo, "sensor_msgs/msg/PointCloud2": PointCloud2}


def depth_metres(msg: Image) -> np.ndarray:
    """HxW float32 metres of a depth Image: 32FC1 (m, NaN invalid) or 16UC1 (mm, 0 invalid)."""
    try:
        return decode_depth(msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian,
                            msg.data)
    except DepthEncodingError as exc:
        raise EvaluationError(str(exc)) from exc


class LiveEvaluator(Node):
    """Subscribes to depth (and, without playback, image + lidar); publishes ~/metrics."""

    def __init__(self, source: BagSource, scorer: LiveScorer, args: argparse.Namespace,
                 context: Context) -> None:
        super().__init__(args.node_name, context=context)
        self.source, self.scorer, self.args = source, scorer, args
        self.metrics_pub = self.create_publisher(DepthMetrics, "~/metrics", METRICS_QOS)
        self.depth_sub = self.create_subscription(Image, args.depth_topic, self._on_depth,
                                                  RELIABLE)
        self.images_seen: set[int] = set()  # image stamps published (by us or ros2 bag play)
        self.last_depth = time.monotonic()
        self.pubs: dict[str, Any] = {}
        self.tf_static_pub: Any | None = None
        types = {c.topic: ROS_TYPES.get(c.msgtype) for c in source.reader.connections}
        if args.no_play:
            self.create_subscription(types[source.topics.image] or Image, source.topics.image,
                                     self._on_image, RELIABLE)
            self.create_subscription(PointCloud2, source.topics.lidar, self._on_scan, RELIABLE)
        else:
            for topic in (source.topics.image, source.topics.camera_info, source.topics.lidar):
                if types.get(topic) is not None:
                    self.pubs[topic] = self.create_publisher(types[topic], topic, RELIABLE)
            self.tf_static_pub = self._tf_static_publisher(types)
        self.play_done = threading.Event()
        self.play_error: BaseException | None = None
        self.stop = threading.Event()

    def _tf_static_publisher(self, types: dict[str, Any]) -> Any | None:
        """A latched /tf_static publisher when the bag has one and tf2_msgs is importable."""
        if TF_STATIC_TOPIC not in types:
            return None
        try:
            from tf2_msgs.msg import TFMessage
        except ImportError:
            self.get_logger().warning(
                f"tf2_msgs is not installed: the bag's {TF_STATIC_TOPIC} is not published "
                "during playback (install ros-<distro>-tf2-msgs, or here "
                "../shared/ros2_tools/install.sh .venv); scoring is unaffected")
            return None
        return self.create_publisher(TFMessage, TF_STATIC_TOPIC, TF_STATIC_QOS)

    def publish_tf_static(self) -> int:
        """Publish every /tf_static message of the bag once (latched); returns their count."""
        if self.tf_static_pub is None:
            return 0
        reader = self.source.reader
        conns = [c for c in reader.connections if c.topic == TF_STATIC_TOPIC]
        n = 0
        for _conn, _t, raw in reader.messages(connections=conns):
            self.tf_static_pub.publish(bytes(raw))
            n += 1
        return n

    # -- subscriptions --------------------------------------------------------------------
    def _on_depth(self, msg: Image) -> None:
        self.last_depth = time.monotonic()
        try:
            depth = depth_metres(msg)
        except DepthNetNanoError as exc:
            self.get_logger().error(f"depth frame skipped: {exc}", throttle_duration_sec=5.0)
            return
        self.scorer.add_depth(header_stamp_ns(msg), depth)

    def _on_image(self, msg: Image | CompressedImage) -> None:
        self.images_seen.add(header_stamp_ns(msg))

    def _on_scan(self, msg: PointCloud2) -> None:
        stamp = header_stamp_ns(msg)
        if self.scorer.wants_scan(stamp):
            self.scorer.add_scan(stamp, cloud_xyz(msg).copy())

    def publish_score(self, score: FrameScore) -> None:
        """DepthMetrics of one scored frame (NaN metrics when it had no valid ground truth)."""
        msg = DepthMetrics()
        sec, nanosec = divmod(score.stamp_ns, 1_000_000_000)
        msg.header.stamp.sec, msg.header.stamp.nanosec = int(sec), int(nanosec)
        msg.header.frame_id = self.source.image_frame
        for name in METRIC_NAMES:
            setattr(msg, name, float("nan") if score.metrics is None else score.metrics[name])
        msg.scale = float(score.scale)
        msg.valid_points = int(score.valid_points)
        self.metrics_pub.publish(msg)

    # -- playback (own thread) --------------------------------------------------------------
    def play(self) -> None:
        """Publish the bag's image, camera_info and lidar with recorded timing / rate."""
        reader, topics = self.source.reader, self.source.topics
        conns = [c for c in reader.connections if c.topic in self.pubs]
        t_first: int | None = None
        wall0 = time.monotonic()
        try:
            for conn, t, raw in reader.messages(connections=conns):
                if t_first is None:
                    t_first, wall0 = t, time.monotonic()
                delay = wall0 + (t - t_first) * 1e-9 / self.args.rate - time.monotonic()
                if delay > 0 and self.stop.wait(delay) or self.stop.is_set():
                    return
                if conn.topic == topics.lidar:
                    msg = reader.deserialize(raw, conn.msgtype)
                    self.scorer.add_scan(header_stamp_ns(msg), cloud_xyz(msg))
                self.pubs[conn.topic].publish(bytes(raw))
                if conn.topic == topics.image:
                    self.images_seen.add(raw_header_stamp_ns(raw, True))
        except BaseException as exc:  # re-raised by the main thread
            self.play_error = exc
        finally:
            self.play_done.set()


def _wait(executor: SingleThreadedExecutor, until: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not until():
        if time.monotonic() > deadline:
            raise EvaluationError(f"timed out after {timeout:g} s waiting for {what}")
        executor.spin_once(timeout_sec=0.05)


def _run(node: LiveEvaluator, executor: SingleThreadedExecutor, args: argparse.Namespace,
         bar: tqdm) -> None:
    """Play (or listen) until every image is answered or the node stays silent too long."""
    player = None
    if not args.no_play:
        topics = node.source.topics
        image_pub, lidar_pub = node.pubs[topics.image], node.pubs.get(topics.lidar)
        _wait(executor, lambda: image_pub.get_subscription_count() > 0
              and node.depth_sub.get_publisher_count() > 0, args.start_timeout,
              f"a depth node subscribing to {topics.image} and publishing "
              f"{node.resolve_topic_name(args.depth_topic)} (start depth_node with "
              f"image:={topics.image} camera_info:={topics.camera_info})")
        _wait(executor, lambda: image_pub.get_subscription_count() >= args.wait_image_subscribers
              and (lidar_pub is None or lidar_pub.get_subscription_count()
                   >= args.wait_lidar_subscribers), args.start_timeout,
              f"{args.wait_image_subscribers} subscribers on {topics.image} and "
              f"{args.wait_lidar_subscribers} on {topics.lidar}")
        node.publish_tf_static()  # the geometry the scores use, for RViz and tf2 listeners
        player = threading.Thread(target=node.play, name="bag_player", daemon=True)
        player.start()
    start = time.monotonic()
    total = node.source.image_stamps.size
    try:
        while True:
            executor.spin_once(timeout_sec=0.05)
            bar.n = node.scorer.counts.depth_received
            bar.refresh()
            got = node.scorer.counts.received_stamps
            now = time.monotonic()
            if args.no_play:
                if len(got) >= total:
                    return
                if not got and now - start > args.start_timeout:
                    raise EvaluationError(
                        f"no depth on {node.resolve_topic_name(args.depth_topic)} within "
                        f"{args.start_timeout:g} s: is depth_node running and the bag playing?")
                if got and now - node.last_depth > args.idle_timeout:
                    return
            elif node.play_done.is_set():
                if node.play_error is not None or node.images_seen <= got:
                    return
                if now - max(node.last_depth, start) > args.idle_timeout:
                    return
    finally:
        node.stop.set()
        if player is not None:
            player.join(timeout=10.0)
    if node.play_error is not None:
        raise node.play_error


def run_live(args: argparse.Namespace, settings: EvalSettings, ground_truth: GroundTruth,
             geometry: CameraGeometry | None) -> int:
    """The --live path of the evaluate command."""
    if args.rate <= 0:
        raise EvaluationError(f"--rate {args.rate} must be > 0")
    with open_source(args, need_lidar=geometry is None) as source:
        if not source.reader.is2 and not args.no_play:
            raise EvaluationError(
                f"{source.path} is a ROS 1 bag: live playback publishes rosbag2 CDR only; "
                "convert it with `rosbags-convert` or play it yourself and pass --no-play")
        geometry = source.geometry() if geometry is None else geometry
        pairing = pair_frames(source, args.max_time_offset)
        with tempfile.TemporaryDirectory(prefix="depthnet_live_") as tmp:
            pred_dir = Path(args.save_predictions or tmp)
            pred_dir.mkdir(parents=True, exist_ok=True)
            result = _evaluate(source, pairing, settings, geometry, ground_truth, args, pred_dir)

            def prediction_for(frame: Any) -> np.ndarray:
                return np.load(pred_dir / f"{frame.stamp_ns}.npy")

            return finish(args, result, report_loader(source, result, prediction_for,
                                                      ground_truth))


def _evaluate(source: BagSource, pairing: Any, settings: EvalSettings, geometry: CameraGeometry,
              ground_truth: GroundTruth, args: argparse.Namespace,
              pred_dir: Path) -> EvaluationResult:
    """Spin the evaluator node and collect the scores."""
    context = Context()
    rclpy.init(context=context)
    node: LiveEvaluator | None = None
    executor = SingleThreadedExecutor(context=context)
    started = time.perf_counter()
    try:
        scorer = LiveScorer(source.image_stamps, source.lidar_stamps, pairing, settings,
                            geometry, ground_truth)
        node = LiveEvaluator(source, scorer, args, context)

        def on_score(score: FrameScore, depth: np.ndarray) -> None:
            save_npy_atomic(pred_dir / f"{score.stamp_ns}.npy", depth)
            node.publish_score(score)

        scorer.on_score = on_score
        executor.add_node(node)
        with tqdm(total=int(source.image_stamps.size), desc="evaluate (live)", unit="frame",
                  disable=True if args.no_progress else None) as bar:
            _run(node, executor, args, bar)
        lidar_missing = scorer.finish()
        counts = scorer.counts
        published = node.images_seen
        dropped = len(published - counts.received_stamps)
        if not scorer.scores:
            raise EvaluationError(
                f"the node answered none of the {len(published)} images played: check that "
                f"depth_node publishes {node.resolve_topic_name(args.depth_topic)}")
    finally:
        if node is not None:
            node.metrics_pub.wait_for_all_acked(Duration(seconds=5.0))  # deliver every score
            node.destroy_node()
        executor.shutdown()
        rclpy.try_shutdown(context=context)
    result = EvaluationResult(settings, sorted(scorer.scores, key=lambda s: s.stamp_ns),
                              int(source.image_stamps.size), pairing.rejected, geometry.source,
                              mode="live", dropped=dropped, pairing=pairing, geometry=geometry)
    result.live = {"images_published": len(published), "depth_received": counts.depth_received,
                   "dropped": dropped, "lidar_missing": lidar_missing,
                   "unexpected_stamps": counts.unexpected, "duplicates": counts.duplicates,
                   "rate": args.rate, "played": not args.no_play,
                   "wall_s": round(time.perf_counter() - started, 3)}
    return result
