"""Point clouds as Stanford PLY files (binary little-endian or ASCII) that any viewer opens.

Organized clouds (HxWx3, as :func:`geometry.cloud.depth_to_points` makes them) and unorganized
ones (Nx3) are accepted; points with a non-finite coordinate (the NaN of invalid depth) are
left out, because PLY has no notion of "no point" and most viewers choke on NaN. Colours come
either as a uint8 array of the same leading shape or as the packed float32 ``rgb`` channel of
a PointCloud2 (a 4th channel of the points). Files are written atomically (temp + rename).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from depthnet_nano_ros.errors import DepthNetNanoError
from depthnet_nano_ros.fileio import atomic_write_bytes

__all__ = ["PlyError", "PlyCloud", "read_ply", "unpack_rgb", "write_ply"]

_XYZ = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
_RGB = [("red", "u1"), ("green", "u1"), ("blue", "u1")]
_PLY_TYPES = {"float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
              "uchar": "u1", "uint8": "u1", "char": "i1", "int8": "i1", "ushort": "u2",
              "uint16": "u2", "short": "i2", "int16": "i2", "uint": "u4", "uint32": "u4",
              "int": "i4", "int32": "i4"}
_PLY_NAMES = {"f4": "float", "f8": "double", "u1": "uchar"}


class PlyError(DepthNetNanoError):
    """Points or colours that cannot be written, or a file that is not a readable PLY."""


@dataclass
class PlyCloud:
    """A cloud read back from a PLY file: Nx3 float32 points and Nx3 uint8 colours (or None)."""

    points: np.ndarray
    colors: np.ndarray | None
    binary: bool


def unpack_rgb(packed: np.ndarray) -> np.ndarray:
    """Packed float32 'rgb' (0x00RRGGBB bits, PCL / RViz) -> (..., 3) uint8."""
    bits = np.ascontiguousarray(packed, dtype=np.float32).view(np.uint32)
    return np.stack([(bits >> 16) & 0xFF, (bits >> 8) & 0xFF, bits & 0xFF],
                    axis=-1).astype(np.uint8)


def _flatten(points: np.ndarray, colors: np.ndarray | None) -> tuple[np.ndarray,
                                                                    np.ndarray | None]:
    """Checked (N,3) float32 points and (N,3) uint8 colours, invalid points removed."""
    pts = np.asarray(points)
    if pts.ndim not in (2, 3) or pts.shape[-1] not in (3, 4):
        raise PlyError(
            f"points must be Nx3 / HxWx3 (or x4 with a packed rgb channel), got shape {pts.shape}"
        )
    if pts.shape[-1] == 4:
        if colors is not None:
            raise PlyError("points carry a packed rgb channel and colors were also given; "
                           "pass only one of them")
        colors = unpack_rgb(pts[..., 3])
        pts = pts[..., :3]
    pts = pts.reshape(-1, 3).astype(np.float32, copy=False)
    if colors is not None:
        col = np.asarray(colors)
        if col.dtype != np.uint8 or col.shape[-1] != 3 or col.size != pts.size:
            raise PlyError(
                f"colors must be uint8 with one RGB triple per point ({pts.shape[0]} points), "
                f"got {col.dtype} array of shape {col.shape}"
            )
        colors = col.reshape(-1, 3)
    keep = np.isfinite(pts).all(axis=1)
    if not keep.all():
        pts = pts[keep]
        colors = None if colors is None else colors[keep]
    return pts, colors


def _header(n: int, fmt: str, with_color: bool, comment: str | None) -> bytes:
    lines = ["ply", f"format {fmt} 1.0"]
    if comment:
        lines += [f"comment {line}" for line in comment.splitlines()]
    lines.append(f"element vertex {n}")
    lines += [f"property {_PLY_NAMES[t[-2:]]} {name}" for name, t in _XYZ]
    if with_color:
        lines += [f"property uchar {name}" for name, _ in _RGB]
    lines.append("end_header")
    return ("\n".join(lines) + "\n").encode("ascii")


def write_ply(path: str | Path, points: np.ndarray, colors: np.ndarray | None = None, *,
              binary: bool = True, comment: str | None = None) -> int:
    """Write `points` (Nx3 / HxWx3 / x4 packed rgb) to `path`; returns the points written."""
    pts, col = _flatten(points, colors)
    n = pts.shape[0]
    header = _header(n, "binary_little_endian" if binary else "ascii", col is not None, comment)
    if binary:
        rec = np.empty(n, dtype=_XYZ + (_RGB if col is not None else []))
        for i, (name, _) in enumerate(_XYZ):
            rec[name] = pts[:, i]
        if col is not None:
            for i, (name, _) in enumerate(_RGB):
                rec[name] = col[:, i]
        body = rec.tobytes()
    else:
        cols = [np.char.mod("%.9g", pts[:, i]) for i in range(3)]
        if col is not None:
            cols += [col[:, i].astype(str) for i in range(3)]
        rows = cols[0]
        for c in cols[1:]:
            rows = np.char.add(np.char.add(rows, " "), c)
        body = ("\n".join(rows.tolist()) + ("\n" if n else "")).encode("ascii")
    atomic_write_bytes(Path(path), header + body)
    return n


def _parse_header(data: bytes, path: Path) -> tuple[str, int, list[tuple[str, str]], int]:
    """(format, vertex count, [(property, numpy type)], offset of the body)."""
    end = data.find(b"end_header\n")
    if not data.startswith(b"ply\n") or end < 0:
        raise PlyError(f"{path} is not a PLY file (no 'ply' magic or no end_header)")
    fmt, count, props, element = "", -1, [], None
    for line in data[:end].decode("ascii", "replace").splitlines()[1:]:
        words = line.split()
        if not words or words[0] == "comment":
            continue
        if words[0] == "format":
            fmt = words[1]
        elif words[0] == "element":
            element = words[1]
            if element == "vertex":
                count = int(words[2])
        elif words[0] == "property" and element == "vertex":
            if words[1] == "list" or words[1] not in _PLY_TYPES:
                raise PlyError(f"{path}: vertex property {line!r} is not supported")
            props.append((words[2], _PLY_TYPES[words[1]]))
    if fmt not in ("ascii", "binary_little_endian") or count < 0:
        raise PlyError(f"{path}: unsupported PLY format {fmt!r} or no vertex element")
    return fmt, count, props, end + len(b"end_header\n")


def read_ply(path: str | Path) -> PlyCloud:
    """Read the vertices of a PLY file with x, y, z and optional red, green, blue."""
    path = Path(path)
    data = path.read_bytes()
    fmt, n, props, offset = _parse_header(data, path)
    names = [name for name, _ in props]
    if names[:3] != ["x", "y", "z"]:
        raise PlyError(f"{path}: vertices must start with x, y, z, got {names}")
    if fmt == "ascii":
        lines = data[offset:].decode("ascii").split("\n")[:n]
        table = (np.loadtxt(lines, ndmin=2, dtype=np.float64) if n
                 else np.zeros((0, len(props)))).reshape(n, len(props))
        rec = {name: table[:, i] for i, name in enumerate(names)}
    else:
        dtype = np.dtype([(name, "<" + t) for name, t in props])
        if len(data) - offset < n * dtype.itemsize:
            raise PlyError(f"{path} is truncated: {n} vertices need {n * dtype.itemsize} bytes")
        rec = np.frombuffer(data, dtype=dtype, count=n, offset=offset)
    pts = np.stack([rec[c] for c in ("x", "y", "z")], axis=1).astype(np.float32)
    colors = None
    if all(c in names for c in ("red", "green", "blue")):
        colors = np.stack([rec[c] for c in ("red", "green", "blue")], axis=1).astype(np.uint8)
    return PlyCloud(pts, colors, fmt != "ascii")
