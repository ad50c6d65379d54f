"""ROS-free core of live evaluation: score depth frames as they arrive against recorded lidar.

The pairs are the offline ones (nearest scan in time within the bound, chosen from the bag's
stamps), so live and offline scores agree whenever the node answers every image. Scans and
depth frames may arrive in any order; each pair is scored as soon as both halves are here,
and scans are released once no later depth frame can need them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from depthnet_nano_ros.evaluation.bag_source import CameraGeometry, Frame
from depthnet_nano_ros.evaluation.metrics import EvalSettings, FrameScore, score_frame
from depthnet_nano_ros.evaluation.offline import GroundTruth
from depthnet_nano_ros.evaluation.pairing import Pairing


@dataclass
class LiveCounts:
    """What happened to the images and depth frames."""

    depth_received: int = 0
    unexpected: int = 0  # depth frames whose stamp is no image of the bag
    duplicates: int = 0
    unpaired: int = 0  # depth of an image whose pair was rejected (not scored)
    received_stamps: set[int] = field(default_factory=set)


class LiveScorer:
    """Thread-safe pairing of incoming depth frames with recorded lidar scans."""

    def __init__(self, image_stamps: np.ndarray, lidar_stamps: np.ndarray, pairing: Pairing,
                 settings: EvalSettings, geometry: CameraGeometry, ground_truth: GroundTruth,
                 on_score: Callable[[FrameScore, np.ndarray], None] | None = None) -> None:
        self.settings = settings
        self.geometry = geometry
        self.ground_truth = ground_truth
        self.on_score = on_score
        self.scores: list[FrameScore] = []
        self.counts = LiveCounts()
        self._lock = threading.Lock()
        self._image_stamps = set(int(s) for s in image_stamps)
        self._partner = {int(image_stamps[i]): int(lidar_stamps[j]) if j >= 0 else -1
                         for i, j in zip(pairing.image_index, pairing.lidar_index, strict=True)}
        self._users: dict[int, list[int]] = {}  # scan stamp -> image stamps paired with it
        for img, scan in self._partner.items():
            self._users.setdefault(scan, []).append(img)
        self._scans: dict[int, np.ndarray] = {}
        self._waiting: dict[int, list[tuple[int, np.ndarray]]] = {}  # scan -> depth frames

    def wants_scan(self, stamp_ns: int) -> bool:
        """Whether a scan with this stamp is paired with any image."""
        return int(stamp_ns) in self._users

    def add_scan(self, stamp_ns: int, points: np.ndarray) -> None:
        """A recorded lidar scan (Nx3+, lidar frame); scores depth frames waiting for it."""
        stamp_ns = int(stamp_ns)
        if stamp_ns not in self._users:
            return
        with self._lock:
            self._scans[stamp_ns] = points
            waiting = self._waiting.pop(stamp_ns, [])
        for img, depth in waiting:
            self._score(img, depth, stamp_ns)

    def add_depth(self, stamp_ns: int, depth: np.ndarray) -> None:
        """A depth frame from the node, stamped like its image."""
        stamp_ns = int(stamp_ns)
        with self._lock:
            self.counts.depth_received += 1
            if stamp_ns not in self._image_stamps:
                self.counts.unexpected += 1
                return
            if stamp_ns in self.counts.received_stamps:
                self.counts.duplicates += 1
                return
            self.counts.received_stamps.add(stamp_ns)
            scan = self._partner.get(stamp_ns)
            if scan is None:
                self.counts.unpaired += 1
                return
            if scan >= 0 and scan not in self._scans:
                self._waiting.setdefault(scan, []).append((stamp_ns, depth))
                return
        self._score(stamp_ns, depth, scan)

    def _score(self, image_stamp: int, depth: np.ndarray, scan_stamp: int) -> None:
        with self._lock:
            points = self._scans.get(scan_stamp, np.zeros((0, 3), np.float32))
        size_only = np.broadcast_to(np.uint8(0), depth.shape + (3,))  # GT needs the size only
        frame = Frame(image_stamp, size_only, points, scan_stamp)
        gt = self.ground_truth(frame, self.geometry)
        score = score_frame(gt, depth, self.settings, image_stamp)
        with self._lock:
            self.scores.append(score)
            self._release(image_stamp)
        if self.on_score is not None:
            self.on_score(score, depth)

    def _release(self, image_stamp: int) -> None:
        """Drop scans whose every image is at or before this one (scored or dropped)."""
        for scan in [s for s in self._scans if max(self._users[s]) <= image_stamp]:
            del self._scans[scan]

    def pending(self) -> int:
        """Depth frames still waiting for their scan."""
        with self._lock:
            return sum(len(v) for v in self._waiting.values())

    def finish(self) -> int:
        """End of stream: depth frames whose scan never came are dropped; returns how many."""
        with self._lock:
            lost = sum(len(v) for v in self._waiting.values())
            self._waiting.clear()
            self._scans.clear()
        return lost
