"""Offline evaluation: bag -> pairing -> lidar projection -> prediction -> metrics.

The depth predictor is injected (any callable HxWx3 uint8 RGB -> HxW float32 metres), so the
same path scores the network, another engine, or an oracle.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from depthnet_nano_ros.evaluation.bag_source import BagSource, CameraGeometry, Frame
from depthnet_nano_ros.evaluation.errors import EvaluationError
from depthnet_nano_ros.evaluation.metrics import EvalSettings, FrameScore, score_frame
from depthnet_nano_ros.evaluation.pairing import Pairing, pair_nearest
from depthnet_nano_ros.evaluation.temporal import TemporalConsistency
from depthnet_nano_ros.fileio import atomic_save_npy as save_npy_atomic
from depthnet_nano_ros.geometry.lidar_projection import project_to_depth

Predictor = Callable[[np.ndarray], np.ndarray]
#: (frame, geometry) -> HxW ground-truth depth (0 = none)
GroundTruth = Callable[[Frame, CameraGeometry], np.ndarray]
#: stamps -> {stamp: (rgb, ground truth, raw prediction)} of the frames shown in the report
ReportLoader = Callable[[list[int]], dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]]


def lidar_ground_truth(frame: Frame, geometry: CameraGeometry) -> np.ndarray:
    """Sparse depth of the frame's lidar scan projected into its image (KITTI tooling)."""
    return project_to_depth(frame.points, geometry.T_cam_lidar, geometry.K, frame.rgb.shape[:2])


class StageTimer:
    """Wall-clock and this thread's CPU seconds per stage (CPU time is what a shared machine
    cannot inflate)."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)

    def add(self, stage: str, wall: float, cpu: float) -> None:
        """Account time measured elsewhere."""
        self.wall[stage] += wall
        self.cpu[stage] += cpu

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        """Time the body as `stage`."""
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            self.add(stage, time.perf_counter() - wall, time.thread_time() - cpu)


@dataclass
class EvaluationResult:
    """Everything the summary, JSON and report need."""

    settings: EvalSettings
    scores: list[FrameScore]
    images: int  # images on the image topic
    pairs_rejected: int
    geometry_source: str
    mode: str = "offline"
    dropped: int | None = None  # live: images published without a depth answer
    timings_s: dict[str, float] = field(default_factory=dict)  # wall seconds per stage
    timings_cpu_s: dict[str, float] = field(default_factory=dict)  # CPU seconds per stage
    pairing: Pairing | None = None
    geometry: CameraGeometry | None = None
    live: dict[str, object] | None = None  # live mode: what was published, received, dropped
    temporal: dict[str, float | int | None] | None = None  # evaluation.temporal's summary


def pair_frames(source: BagSource, max_time_offset_s: float) -> Pairing:
    """Pair the bag's images with lidar scans; an error when nothing pairs."""
    if max_time_offset_s < 0:
        raise EvaluationError(f"--max-time-offset {max_time_offset_s} must be >= 0 seconds")
    if not source.need_lidar:  # every image stands alone (annotated ground truth)
        n = source.image_stamps.size
        if n == 0:
            raise EvaluationError(f"bag {source.path} has no message on {source.topics.image}")
        order = np.argsort(source.image_stamps, kind="stable")
        return Pairing(order, np.full(n, -1), np.zeros(n, dtype=np.int64), 0)
    pairing = pair_nearest(source.image_stamps, source.lidar_stamps,
                           int(round(max_time_offset_s * 1e9)))
    if len(pairing) == 0:
        raise EvaluationError(
            f"no image of {source.topics.image} ({source.image_stamps.size} messages) has a "
            f"scan on {source.topics.lidar} ({source.lidar_stamps.size} messages) within "
            f"--max-time-offset {max_time_offset_s} s: check the topics or widen the bound"
        )
    return pairing


def predict_checked(predict: Predictor, rgb: np.ndarray) -> np.ndarray:
    """Run the predictor and check it returns HxW depth at the image's resolution."""
    depth = np.asarray(predict(rgb), dtype=np.float32)
    if depth.shape != rgb.shape[:2]:
        raise EvaluationError(
            f"the predictor returned depth of shape {depth.shape} for a "
            f"{rgb.shape[1]}x{rgb.shape[0]} image: it must return HxW metres at the image's "
            "resolution"
        )
    return depth


def evaluate_offline(source: BagSource, predict: Predictor, settings: EvalSettings, *,
                     max_time_offset_s: float = 0.05,
                     ground_truth: GroundTruth = lidar_ground_truth,
                     geometry: CameraGeometry | None = None, pairing: Pairing | None = None,
                     save_predictions: str | Path | None = None,
                     progress: bool | None = None) -> EvaluationResult:
    """Score every paired frame of the bag; timings separate inference from the rest.

    `geometry` None reads K and the lidar transform from the bag (or its --calib); `pairing`
    None pairs the bag's stamps with `max_time_offset_s`.
    """
    timer = StageTimer()
    timer.add("pairing", *source.stamp_pass_s)
    with timer("pairing"):
        geometry = source.geometry() if geometry is None else geometry
        pairing = pair_frames(source, max_time_offset_s) if pairing is None else pairing
    out_dir = Path(save_predictions) if save_predictions is not None else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    scores: list[FrameScore] = []
    steadiness = TemporalConsistency(min_depth=settings.min_depth, max_depth=settings.max_depth)
    frames = source.frames(pairing)
    disable = None if progress is None else not progress  # None: only on a terminal
    with tqdm(total=len(pairing), desc="evaluate", unit="frame", disable=disable) as bar:
        while True:
            with timer("read"):
                frame = next(frames, None)
            if frame is None:
                break
            with timer("ground_truth"):
                gt = ground_truth(frame, geometry)
            with timer("inference"):
                pred = predict_checked(predict, frame.rgb)
            with timer("metrics"):
                scores.append(score_frame(gt, pred, settings, frame.stamp_ns))
                steadiness.add(gt, pred)
            if out_dir is not None:
                with timer("save"):
                    save_npy_atomic(out_dir / f"{frame.stamp_ns}.npy", pred)
            bar.update(1)
    scores.sort(key=lambda s: s.stamp_ns)
    return EvaluationResult(settings, scores, int(source.image_stamps.size), pairing.rejected,
                            geometry.source, timings_s=dict(timer.wall),
                            timings_cpu_s=dict(timer.cpu), pairing=pairing, geometry=geometry,
                            temporal=steadiness.summary())


def report_loader(source: BagSource, result: EvaluationResult,
                  prediction_for: Callable[[Frame], np.ndarray],
                  ground_truth: GroundTruth = lidar_ground_truth) -> ReportLoader:
    """`load(stamps)` for the report: re-reads those frames from the bag (second pass)."""
    assert result.pairing is not None and result.geometry is not None
    pairing, geometry = result.pairing, result.geometry

    def load(stamps: list[int]) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        return {f.stamp_ns: (f.rgb, ground_truth(f, geometry), prediction_for(f))
                for f in source.frames_at(pairing, stamps)}

    return load
