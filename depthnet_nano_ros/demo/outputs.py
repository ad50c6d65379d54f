"""What the demo leaves for people to look at: colorized depth PNGs, a .ply cloud, README images.

Everything is computed with the project's own pieces (colorize, depth_to_points, write_ply,
the KITTI readers and the estimator); this module only picks frames and composes pictures.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from depthnet_nano_ros.fileio import atomic_write_bytes
from depthnet_nano_ros.geometry.cloud import depth_to_points
from depthnet_nano_ros.geometry.colormap import colorize
from depthnet_nano_ros.geometry.ply import unpack_rgb, write_ply
from depthnet_nano_ros.kitti.raw import RawDrive

__all__ = ["DepthFrame", "render_cloud", "save_png", "write_depth_pngs", "write_frame_cloud",
           "write_readme_images"]

#: Colormap range (metres) of the pictures; config/depthnet_nano.yaml's colormap.min / .max.
COLORMAP_RANGE = (1.0, 50.0)


@dataclass(frozen=True)
class DepthFrame:
    """A depth map the node published (saved by the evaluator) and the drive frame it belongs to."""

    stamp_ns: int
    frame: int
    path: Path


def save_png(path: Path, rgb: np.ndarray) -> Path:
    """Write an HxWx3 uint8 image as PNG atomically."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buf, format="PNG")
    return atomic_write_bytes(Path(path), buf.getvalue())


def match_predictions(pred_dir: Path, drive: RawDrive) -> list[DepthFrame]:
    """Saved `<stamp_ns>.npy` depth maps matched to the drive's frames by image timestamp."""
    by_stamp = {drive.timestamp_ns(i, "image"): i for i in drive.frames}
    found = []
    for path in sorted(Path(pred_dir).glob("*.npy")):
        stamp = int(path.stem) if path.stem.isdigit() else -1
        if stamp in by_stamp:
            found.append(DepthFrame(stamp, by_stamp[stamp], path))
    return sorted(found, key=lambda f: f.stamp_ns)


def pick_evenly(frames: list[DepthFrame], count: int) -> list[DepthFrame]:
    """Up to `count` frames spread over the whole list (first and last included)."""
    if len(frames) <= count:
        return list(frames)
    idx = np.unique(np.round(np.linspace(0, len(frames) - 1, count)).astype(int))
    return [frames[i] for i in idx]


def write_depth_pngs(frames: list[DepthFrame], drive: RawDrive, out_dir: Path) -> list[Path]:
    """Per frame: `depth_NNNNNN.png` (turbo) and `rgb_depth_NNNNNN.png` (camera over depth)."""
    paths = []
    for f in frames:
        depth = np.load(f.path)
        color = colorize(depth, *COLORMAP_RANGE)
        paths.append(save_png(out_dir / f"depth_{f.frame:06d}.png", color))
        rgb = drive.load_image(f.frame)
        if rgb.shape[:2] == color.shape[:2]:
            paths.append(save_png(out_dir / f"rgb_depth_{f.frame:06d}.png",
                                  np.concatenate([rgb, color], axis=0)))
    return paths


def frame_cloud(depth: np.ndarray, drive: RawDrive, frame: int, max_depth: float) -> np.ndarray:
    """HxWx4 organized cloud (x, y, z, packed rgb) of one frame in the camera's optical frame."""
    K = drive.calib.K(drive.camera)
    rgb = drive.load_image(frame)
    depth = np.where(depth <= max_depth, depth, np.nan).astype(np.float32)
    return depth_to_points(depth, K[0, 0], K[1, 1], K[0, 2], K[1, 2], rgb=rgb)


def write_frame_cloud(f: DepthFrame, drive: RawDrive, path: Path,
                      max_depth: float = 80.0) -> int:
    """Coloured binary .ply of one saved depth frame; returns the number of points."""
    cloud = frame_cloud(np.load(f.path), drive, f.frame, max_depth)
    comment = (f"DepthNet Nano depth_node output, frame {f.frame} (stamp {f.stamp_ns} ns); "
               "camera optical frame: x right, y down, z forward, metres")
    return write_ply(path, cloud, comment=comment)


def _look_at(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """3x3 rotation world -> view for a camera at `eye` looking at `target` (y down)."""
    fwd = target - eye
    fwd /= np.linalg.norm(fwd)
    right = np.cross(np.array([0.0, 1.0, 0.0]), fwd)  # world "down" is +y (optical frame)
    right /= np.linalg.norm(right)
    down = np.cross(fwd, right)
    return np.stack([right, down, fwd])


def neighbour_spacing(xyz: np.ndarray, cap: float = 1.0) -> np.ndarray:
    """HxWx3 organized cloud -> HxW distance to the right / lower neighbour (the larger, <= cap).

    The size of the surface patch each point stands for: drawn that large, a surface seen at a
    grazing angle (the road) has no gaps; `cap` keeps depth edges from smearing.
    """
    gap = np.zeros(xyz.shape[:2])
    with np.errstate(invalid="ignore"):
        right = np.linalg.norm(np.diff(xyz, axis=1), axis=2)
        down = np.linalg.norm(np.diff(xyz, axis=0), axis=2)
    gap[:, :-1] = np.fmax(gap[:, :-1], np.nan_to_num(right))
    gap[:-1, :] = np.fmax(gap[:-1, :], np.nan_to_num(down))
    return np.minimum(gap, cap)


def render_cloud(points: np.ndarray, colors: np.ndarray, size: tuple[int, int] = (600, 1000),
                 eye: tuple[float, float, float] = (-5.0, -4.0, -3.0),
                 target: tuple[float, float, float] = (0.0, 0.5, 15.0),
                 spacing: np.ndarray | float = 0.0, max_splat: int = 6,
                 background: int = 24) -> np.ndarray:
    """Perspective splat of an Nx3 cloud (camera optical frame) from a raised oblique view.

    Each point is drawn as a square covering `spacing` metres (per point, e.g. depth / fx for
    a cloud from a depth image, so neighbours meet without holes), at least 1 pixel and at
    most `max_splat`; the nearest point wins every pixel.
    """
    h, w = size
    eye_v, tgt = np.asarray(eye, np.float64), np.asarray(target, np.float64)
    R = _look_at(eye_v, tgt)
    p = (points.astype(np.float64) - eye_v) @ R.T
    spacing = np.broadcast_to(np.asarray(spacing, np.float64), (points.shape[0],))
    keep = np.isfinite(p).all(axis=1) & (p[:, 2] > 0.5)
    p, c, spacing = p[keep], colors[keep], spacing[keep]
    f = 0.9 * w
    u = np.floor(f * p[:, 0] / p[:, 2] + w / 2).astype(np.int64)
    v = np.floor(f * p[:, 1] / p[:, 2] + h / 2).astype(np.int64)
    splat = np.clip(np.ceil(f * spacing / p[:, 2]), 1, max_splat).astype(np.int64)
    us, vs, zs, cs = [], [], [], []
    for k in np.unique(splat):
        sel = splat == k
        for dy in range(k):
            for dx in range(k):
                us.append(u[sel] + dx - k // 2)
                vs.append(v[sel] + dy - k // 2)
                zs.append(p[sel, 2])
                cs.append(c[sel])
    image = np.full((h, w, 3), background, dtype=np.uint8)
    if not us:
        return image
    us, vs, zs, cs = (np.concatenate(a) for a in (us, vs, zs, cs))
    inside = (us >= 0) & (us < w) & (vs >= 0) & (vs < h)
    pix, zs, cs = vs[inside] * w + us[inside], zs[inside], cs[inside]
    order = np.lexsort((zs, pix))  # by pixel, nearest first
    first = np.unique(pix[order], return_index=True)[1]
    nearest = order[first]
    image.reshape(-1, 3)[pix[nearest]] = cs[nearest]
    return image


def crop_to_content(image: np.ndarray, margin: int = 10) -> np.ndarray:
    """Drop the rows and columns (beyond `margin`) that hold only the corner pixel's colour."""
    drawn = (image != image[0, 0]).any(axis=2)
    rows, cols = np.flatnonzero(drawn.any(axis=1)), np.flatnonzero(drawn.any(axis=0))
    if rows.size == 0:
        return image
    r0, r1 = max(rows[0] - margin, 0), min(rows[-1] + margin + 1, image.shape[0])
    c0, c1 = max(cols[0] - margin, 0), min(cols[-1] + margin + 1, image.shape[1])
    return image[r0:r1, c0:c1]


def write_readme_images(date_dir: Path, drive_id: str, frame: int, out_dir: Path,
                        checkpoint: Path | None = None, max_depth: float = 60.0,
                        max_height: float = 3.0) -> list[Path]:
    """`depth_example.png` (camera over depth) and `pointcloud_example.png` of one KITTI frame.

    The rendering shows points up to `max_depth` metres away and `max_height` metres above
    the camera (the sky and tree tops, which no lidar scores, would hide the street).
    """
    from depthnet_nano_ros.inference.estimator import DepthEstimator

    drive = RawDrive(date_dir, drive=drive_id)
    rgb = drive.load_image(frame)
    est = DepthEstimator.create(checkpoint=checkpoint)
    depth = est.estimate(rgb, encoding="rgb8").depth
    color = colorize(depth, *COLORMAP_RANGE)
    out_dir = Path(out_dir)
    depth_png = save_png(out_dir / "depth_example.png", np.concatenate([rgb, color], axis=0))
    cloud = frame_cloud(depth, drive, frame, max_depth)
    spacing = neighbour_spacing(cloud[..., :3], cap=0.5).reshape(-1)
    cloud = cloud.reshape(-1, 4)
    with np.errstate(invalid="ignore"):
        shown = cloud[:, 1] >= -max_height  # optical frame: y points down
    render = render_cloud(cloud[shown, :3], unpack_rgb(cloud[shown, 3]), spacing=spacing[shown])
    cloud_png = save_png(out_dir / "pointcloud_example.png", crop_to_content(render))
    return [depth_png, cloud_png]
