"""Ground truth from KITTI depth-benchmark PNGs (``--gt annotated DIR``) instead of lidar.

Bag images are matched to PNG frame numbers through the raw drive's ``image_02/timestamps.txt``
(kitti2bag stamps image *i* with line *i*), so a bag of any frame range finds its PNGs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from depthnet_nano_ros.errors import DepthNetNanoError
from depthnet_nano_ros.evaluation.bag_source import CameraGeometry, Frame
from depthnet_nano_ros.evaluation.errors import EvaluationError
from depthnet_nano_ros.kitti.annotated import load_depth_png
from depthnet_nano_ros.kitti.files import parse_timestamp_ns, read_timestamps

GT_KINDS = ("lidar", "annotated")


def _png_dir(directory: Path) -> Path:
    """The folder holding NNNNNNNNNN.png: DIR itself or DIR/proj_depth/<kind>/image_02."""
    if any(directory.glob("[0-9]" * 10 + ".png")):
        return directory
    found = sorted(directory.glob("proj_depth/*/image_02"))
    preferred = [p for p in found if p.parent.name == "groundtruth"] or found
    if not preferred:
        raise EvaluationError(
            f"--gt annotated {directory}: no NNNNNNNNNN.png there nor in "
            "proj_depth/<kind>/image_02: pass a depth-benchmark drive folder or its PNG folder"
        )
    return preferred[0]


def _timestamps_file(png_dir: Path, timestamps: Path | None) -> Path:
    """--gt-timestamps, else image_02/timestamps.txt of the drive folder holding the PNGs."""
    if timestamps is not None:
        return timestamps
    for parent in png_dir.parents:
        candidate = parent / "image_02" / "timestamps.txt"
        if candidate.is_file():
            return candidate
    raise EvaluationError(
        f"no image_02/timestamps.txt above {png_dir} to match bag stamps to PNG frame numbers: "
        "pass --gt-timestamps RAW_DRIVE/image_02/timestamps.txt (the drive the bag came from)"
    )


class AnnotatedGroundTruth:
    """Callable (frame, geometry) -> HxW depth from the PNG of the frame's stamp (0 if none)."""

    def __init__(self, directory: str | Path, timestamps: str | Path | None = None) -> None:
        directory = Path(directory)
        if not directory.is_dir():
            raise EvaluationError(f"--gt annotated {directory}: no such folder")
        self.png_dir = _png_dir(directory)
        stamps_path = _timestamps_file(self.png_dir, None if timestamps is None
                                       else Path(timestamps))
        try:
            lines = read_timestamps(stamps_path)
            stamps = [parse_timestamp_ns(line) for line in lines if line.strip()]
        except (DepthNetNanoError, ValueError) as exc:
            raise EvaluationError(f"timestamps {stamps_path}: {exc}") from exc
        self.by_stamp = {s: self.png_dir / f"{i:010d}.png" for i, s in enumerate(stamps)}
        self.source = f"annotated PNGs in {self.png_dir}"

    def __call__(self, frame: Frame, geometry: CameraGeometry) -> np.ndarray:
        """The PNG depth of this frame, or zeros (no ground truth) when it has none."""
        path = self.by_stamp.get(frame.stamp_ns)
        if path is None or not path.is_file():
            return np.zeros(frame.rgb.shape[:2], dtype=np.float32)
        try:
            depth = load_depth_png(path)
        except DepthNetNanoError as exc:
            raise EvaluationError(str(exc)) from exc
        if depth.shape != frame.rgb.shape[:2]:
            raise EvaluationError(
                f"{path} is {depth.shape[1]}x{depth.shape[0]} but the bag image is "
                f"{frame.rgb.shape[1]}x{frame.rgb.shape[0]}: wrong drive or camera"
            )
        return depth
