"""`depthnet_nano evaluate BAG`: score depth against lidar (or annotated PNGs), offline or live."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from depthnet_nano_ros.cli import parse_hw
from depthnet_nano_ros.evaluation.annotated_gt import GT_KINDS, AnnotatedGroundTruth
from depthnet_nano_ros.evaluation.bag_source import BagSource, CameraGeometry, Frame, Topics
from depthnet_nano_ros.evaluation.errors import EvaluationError
from depthnet_nano_ros.evaluation.metrics import CROPS, EvalSettings
from depthnet_nano_ros.evaluation.offline import (
    EvaluationResult,
    GroundTruth,
    evaluate_offline,
    lidar_ground_truth,
    pair_frames,
    predict_checked,
    report_loader,
)
from depthnet_nano_ros.evaluation.report import ReportLoader, write_report
from depthnet_nano_ros.evaluation.summary import (
    build_summary,
    format_table,
    non_inference_fps,
    write_json,
)

BACKENDS = ("auto", "torch", "onnxruntime", "tensorrt", "torch2trt")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of the evaluate command."""
    d = Topics()
    parser.add_argument("bag", type=Path, help="rosbag2 folder (mcap/sqlite3) or ROS 1 .bag")
    g = parser.add_argument_group("topics")
    g.add_argument("--image-topic", default=d.image, help=f"RGB images (default {d.image})")
    g.add_argument("--lidar-topic", default=d.lidar, help=f"PointCloud2 (default {d.lidar})")
    g.add_argument("--camera-info-topic", default=d.camera_info,
                   help=f"CameraInfo of the images (default {d.camera_info})")
    m = parser.add_argument_group("model (offline)")
    m.add_argument("--checkpoint", type=Path, help="checkpoint .pt (default: the shipped one)")
    m.add_argument("--engine", type=Path, help="exported engine (.onnx, .engine, .pth)")
    m.add_argument("--backend", default="auto", choices=BACKENDS)
    m.add_argument("--input-size", type=parse_hw, help="network input HxW (default: checkpoint's)")
    s = parser.add_argument_group("scoring")
    s.add_argument("--crop", default="garg", choices=tuple(CROPS))
    s.add_argument("--min-depth", type=float, default=1e-3, help="metres (default 1e-3)")
    s.add_argument("--max-depth", type=float, default=80.0, help="metres (default 80)")
    s.add_argument("--median-scaling", action="store_true",
                   help="scale each prediction by median(gt)/median(pred)")
    s.add_argument("--temporal-filter", action="store_true",
                   help="apply depth_node's temporal filter (temporal.* defaults) to the "
                        "predictions, in frame order")
    s.add_argument("--max-time-offset", type=float, default=0.05,
                   help="max |image - lidar| stamp difference in seconds (default 0.05)")
    s.add_argument("--calib", type=Path, metavar="DATE_DIR",
                   help="KITTI calib_*.txt folder: K and velo->camera 2 instead of the bag's")
    s.add_argument("--gt", nargs=2, metavar=("KIND", "DIR"),
                   help="'annotated DIR': depth-benchmark PNGs instead of lidar")
    s.add_argument("--gt-timestamps", type=Path,
                   help="raw image_02/timestamps.txt matching bag stamps to PNG numbers")
    o = parser.add_argument_group("outputs")
    o.add_argument("--json", type=Path, metavar="OUT", help="write the summary JSON here")
    o.add_argument("--report", type=Path, metavar="DIR", help="write an HTML report here")
    o.add_argument("--save-predictions", type=Path, metavar="DIR",
                   help="raw predicted depth per frame as <stamp_ns>.npy (float32 metres)")
    o.add_argument("--no-progress", action="store_true", help="no progress bar")
    lv = parser.add_argument_group("live (against a running depth_node)")
    lv.add_argument("--live", action="store_true", help="score the running node's depth topic")
    lv.add_argument("--no-play", action="store_true",
                    help="do not publish the bag; listen while `ros2 bag play` runs")
    lv.add_argument("--rate", type=float, default=1.0, help="playback rate factor (default 1)")
    lv.add_argument("--depth-topic", default="depth",
                    help="the node's depth output (default depth)")
    lv.add_argument("--wait-image-subscribers", type=int, default=1, metavar="N",
                    help="playback starts once N subscribers (the node, ...) match the image "
                         "topic (default 1)")
    lv.add_argument("--wait-lidar-subscribers", type=int, default=0, metavar="N",
                    help="... and N match the lidar topic (default 0)")
    lv.add_argument("--node-name", default="depth_evaluator",
                    help="ROS node name; metrics go to /NAME/metrics (default depth_evaluator)")
    lv.add_argument("--idle-timeout", type=float, default=10.0,
                    help="seconds without depth after which the run ends (default 10)")
    lv.add_argument("--start-timeout", type=float, default=60.0,
                    help="seconds to wait for the node (playback) or the first depth frame "
                         "(--no-play) (default 60)")


def settings_from(args: argparse.Namespace) -> EvalSettings:
    """EvalSettings from the flags."""
    return EvalSettings(crop=args.crop, min_depth=args.min_depth, max_depth=args.max_depth,
                        median_scaling=args.median_scaling)


def ground_truth_from(args: argparse.Namespace) -> tuple[GroundTruth, CameraGeometry | None]:
    """The ground-truth callable and, for annotated PNGs, a placeholder geometry."""
    if args.gt is None or args.gt[0] == "lidar":
        return lidar_ground_truth, None
    kind, directory = args.gt
    if kind not in GT_KINDS:
        raise EvaluationError(f"--gt {kind!r} is unknown: use 'annotated DIR' (or 'lidar -')")
    gt = AnnotatedGroundTruth(directory, args.gt_timestamps)
    return gt, CameraGeometry(np.eye(3), np.eye(4), gt.source)


def open_source(args: argparse.Namespace, need_lidar: bool) -> BagSource:
    """The bag with the chosen topics."""
    topics = Topics(args.image_topic, args.lidar_topic, args.camera_info_topic)
    return BagSource(args.bag, topics, calib_dir=args.calib, need_lidar=need_lidar)


def finish(args: argparse.Namespace, result: EvaluationResult, load: ReportLoader) -> int:
    """Print the table; write JSON and report (both atomically)."""
    doc = build_summary(result)
    table = format_table(doc, non_inference_fps(result))
    print(table)
    if args.json:
        write_json(args.json, doc)
        print(f"wrote {args.json}")
    if args.report:
        path = write_report(args.report, doc, result.scores, result.settings, table, load)
        print(f"wrote {path}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Evaluate offline (`depthnet_nano evaluate --live` is ros/evaluate_command's)."""
    if args.live:
        raise EvaluationError("live evaluation needs ROS 2: run `depthnet_nano evaluate --live` "
                              "(depthnet_nano_ros.ros.evaluate_command)")
    settings = settings_from(args)
    ground_truth, geometry = ground_truth_from(args)
    from depthnet_nano_ros.geometry.camera import focal_from_camera_info
    from depthnet_nano_ros.geometry.temporal_filter import TemporalFilter
    from depthnet_nano_ros.inference.estimator import DepthEstimator

    with open_source(args, need_lidar=geometry is None) as source:
        geometry = source.geometry() if geometry is None else geometry  # bad input fails
        pairing = pair_frames(source, args.max_time_offset)  # before the model loads
        est = DepthEstimator.create(checkpoint=args.checkpoint, engine=args.engine,
                                    backend=args.backend, input_size=args.input_size)

        info = source.camera_info()  # its fx rescales depth, as in the node (live mode)

        steady = TemporalFilter() if args.temporal_filter else None

        def predict(rgb: np.ndarray) -> np.ndarray:
            fx = None if info is None else focal_from_camera_info(info.p, info.k, info.width,
                                                                  rgb.shape[1])
            depth = est.estimate(rgb, encoding="rgb8", focal_px=fx).depth
            return depth if steady is None else steady(rgb, depth)

        result = evaluate_offline(source, predict, settings,
                                  max_time_offset_s=args.max_time_offset,
                                  ground_truth=ground_truth, geometry=geometry,
                                  pairing=pairing,
                                  save_predictions=args.save_predictions,
                                  progress=False if args.no_progress else None)

        def prediction_for(frame: Frame) -> np.ndarray:
            saved = args.save_predictions and Path(args.save_predictions) / f"{frame.stamp_ns}.npy"
            if saved and saved.is_file():
                return np.load(saved)
            return predict_checked(predict, frame.rgb)

        print(f"backend {est.backend}, network input {est.input_size[0]}x{est.input_size[1]}")
        return finish(args, result, report_loader(source, result, prediction_for, ground_truth))
