"""Hostile inputs for depth_node (ROS-free): fuzzed Image / CompressedImage / CameraInfo fields.

Each case is plain data with the verdict the node must reach: `valid` images give depth of
their size; invalid ones are skipped as bad_input; bad CameraInfo gives depth without
depth/camera_info and points (bad_camera_info). Used by `bench-node --fuzz` and the tests.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: A KITTI-like pinhole camera (P_rect_02 of 2011_09_26, 1242x375), scaled to other sizes.
KITTI_F, KITTI_C = 721.5377, (609.5593, 172.854)
KINDS = ("image", "compressed", "camera_info")
_BPP = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}


@dataclass
class FuzzCase:
    """One hostile (or valid) input and what the node must do with it."""

    kind: str  # "image" (raw), "compressed", or "camera_info" (a bad info + a valid raw image)
    label: str
    fields: dict[str, Any]  # Image / CompressedImage fields (data as bytes)
    valid: bool  # the image yields depth of size `size`
    size: tuple[int, int] = (0, 0)  # (height, width) of the depth, when valid
    info: dict[str, Any] = field(default_factory=dict)  # CameraInfo fields sent with the image
    info_ok: bool = True  # the info is usable: depth/camera_info and points are expected


def png_bomb(width: int = 8000, height: int = 8000) -> bytes:
    """A valid all-black RGB PNG of width x height, built row by row (~190 kB at 8000x8000)."""
    def chunk(tag: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + tag + body
                + struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF))

    comp = zlib.compressobj(9)
    row = bytes(1 + 3 * width)  # filter byte 0 + black pixels
    idat = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def camera_info_fields(height: int, width: int, fx: float | None = None,
                       cx: float | None = None, fy: float | None = None,
                       cy: float | None = None) -> dict[str, Any]:
    """CameraInfo fields of a rectified KITTI-like camera scaled to width x height."""
    s = width / 1242.0
    fx = KITTI_F * s if fx is None else fx
    fy = KITTI_F * s if fy is None else fy
    cx = KITTI_C[0] * s if cx is None else cx
    cy = KITTI_C[1] * height / 375.0 if cy is None else cy
    p = [fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return {"height": height, "width": width, "distortion_model": "plumb_bob", "p": p,
            "k": [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]}


def _raw(rng: np.random.Generator, h: int, w: int, enc: str, pad: int = 0) -> dict[str, Any]:
    step = w * _BPP[enc] + pad
    data = rng.integers(0, 256, step * h, dtype=np.uint8).tobytes()
    return {"height": h, "width": w, "encoding": enc, "is_bigendian": 0, "step": step,
            "data": data}


def _compressed(rng: np.random.Generator, h: int, w: int, codec: str) -> bytes:
    from PIL import Image

    bio = io.BytesIO()
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(bio, codec)
    return bio.getvalue()


#: CameraInfo values that must be refused (name, overrides of camera_info_fields, or a size).
BAD_INFOS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("fx NaN", {"fx": float("nan")}), ("cx inf", {"cx": float("inf")}), ("fx 0", {"fx": 0.0}),
    ("fx 1e-38", {"fx": 1e-38}), ("fx 1e39", {"fx": 1e39}), ("fx 1e-5", {"fx": 1e-5}),
    ("fx negative", {"fx": -300.0}), ("fy negative", {"fy": -300.0}),
    ("cx 3.4e38", {"cx": 3.4e38}), ("size mismatch", {"size": (480, 640)}),
)


def make_cases(n: int, seed: int = 0, max_pixels: int = 1_000_000,
               bomb: bytes | None = None) -> list[FuzzCase]:
    """`n` cases cycling through every family, sizes and bytes drawn from `seed`."""
    rng = np.random.default_rng(seed)
    families = [_valid_raw, _truncated, _extra_bytes, _narrow_step, _zero_size, _bad_encoding,
                _big_endian, _declared_huge, _valid_compressed, _garbage_compressed,
                _truncated_png, _bad_format, _empty_compressed, _bad_info]
    extra = [lambda r: _oversize_raw(r, max_pixels)]
    if bomb is not None:
        extra.append(lambda r: FuzzCase("compressed", "png bomb", {"format": "png",
                                                                   "data": bomb}, False))
    families += extra
    return [families[i % len(families)](rng) for i in range(n)]


def _size(rng: np.random.Generator) -> tuple[int, int]:
    return int(rng.integers(8, 300)), int(rng.integers(8, 500))


def _valid_raw(rng: np.random.Generator) -> FuzzCase:
    h, w = _size(rng)
    enc = str(rng.choice(list(_BPP)))
    pad = int(rng.choice([0, 0, 3, 64]))
    return FuzzCase("image", f"{enc} {w}x{h} step+{pad}", _raw(rng, h, w, enc, pad), True,
                    (h, w), camera_info_fields(h, w))


def _truncated(rng: np.random.Generator) -> FuzzCase:
    h, w = _size(rng)
    f = _raw(rng, h, w, "rgb8")
    f["data"] = f["data"][: int(rng.integers(0, len(f["data"])))]
    return FuzzCase("image", "truncated data", f, False)


def _extra_bytes(rng: np.random.Generator) -> FuzzCase:
    h, w = _size(rng)
    f = _raw(rng, h, w, "bgr8")
    f["data"] += bytes(int(rng.integers(1, 5000)))
    return FuzzCase("image", "extra data", f, False)


def _narrow_step(rng: np.random.Generator) -> FuzzCase:
    h, w = _size(rng)
    f = _raw(rng, h, w, "rgb8")
    f["step"] = int(rng.integers(0, 3 * w))
    f["data"] = bytes(f["step"] * h)
    return FuzzCase("image", f"step {f['step']} < 3 x {w}", f, False)


def _zero_size(rng: np.random.Generator) -> FuzzCase:
    f = _raw(rng, 4, 4, "rgb8")
    f.update(height=0, width=int(rng.integers(0, 100)), step=0, data=b"")
    return FuzzCase("image", "zero size", f, False)


def _bad_encoding(rng: np.random.Generator) -> FuzzCase:
    h, w = _size(rng)
    f = _raw(rng, h, w, "rgb8")
    f["encoding"] = str(rng.choice(["yuv422", "16UC1", "32FC1", "", "bayer_rggb8", "RGB8",
                                    "rgb 8", "mono16", "x" * 300]))
    return FuzzCase("image", f"encoding {f['encoding'][:12]!r}", f, False)


def _big_endian(rng: np.random.Generator) -> FuzzCase:
    h, w = _size(rng)
    f = _raw(rng, h, w, "rgb8")
    f["is_bigendian"] = int(rng.integers(1, 256))
    return FuzzCase("image", "big-endian", f, False)


def _declared_huge(rng: np.random.Generator) -> FuzzCase:
    w, h = int(rng.integers(20_000, 2**31 - 1)), int(rng.integers(20_000, 2**31 - 1))
    return FuzzCase("image", f"declares {w}x{h}", {"height": h, "width": w, "encoding": "rgb8",
                                                   "is_bigendian": 0, "step": min(3 * w, 2**32 - 1),
                                                   "data": bytes(1000)}, False)


def _oversize_raw(rng: np.random.Generator, max_pixels: int) -> FuzzCase:
    w = int(np.sqrt(max_pixels)) + 10
    return FuzzCase("image", f"mono8 {w}x{w} over max_pixels", _raw(rng, w, w, "mono8"), False)


def _valid_compressed(rng: np.random.Generator) -> FuzzCase:
    h, w = _size(rng)
    codec = str(rng.choice(["PNG", "JPEG"]))
    fmt = str(rng.choice(["png", "jpeg", "rgb8; jpeg compressed bgr8", "png"]))  # labels lie
    return FuzzCase("compressed", f"{codec} {w}x{h} as {fmt!r}",
                    {"format": fmt, "data": _compressed(rng, h, w, codec)}, True, (h, w))


def _garbage_compressed(rng: np.random.Generator) -> FuzzCase:
    data = rng.integers(0, 256, int(rng.integers(1, 20_000)), dtype=np.uint8).tobytes()
    return FuzzCase("compressed", "random bytes", {"format": "jpeg", "data": data}, False)


def _truncated_png(rng: np.random.Generator) -> FuzzCase:
    data = _compressed(rng, 120, 200, "PNG")
    return FuzzCase("compressed", "truncated png",
                    {"format": "png", "data": data[: int(rng.integers(8, len(data) - 20))]},
                    False)


def _bad_format(rng: np.random.Generator) -> FuzzCase:
    return FuzzCase("compressed", "format bmp",
                    {"format": "bmp", "data": _compressed(rng, 40, 60, "PNG")}, False)


def _empty_compressed(rng: np.random.Generator) -> FuzzCase:
    return FuzzCase("compressed", "empty", {"format": "png", "data": b""}, False)


def _bad_info(rng: np.random.Generator) -> FuzzCase:
    name, over = BAD_INFOS[int(rng.integers(0, len(BAD_INFOS)))]
    h, w = _size(rng)
    over = dict(over)
    ih, iw = over.pop("size", (h, w))
    info = camera_info_fields(ih, iw, **over)
    return FuzzCase("camera_info", f"camera_info {name}", _raw(rng, h, w, "rgb8"), True, (h, w),
                    info, info_ok=False)
