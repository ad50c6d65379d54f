"""sensor_msgs/Image and CompressedImage <-> numpy, with cv_bridge's encoding semantics.

ROS-free: functions take the message fields, so the node, the evaluator and bag readers
share them. Reading is zero-copy (a strided view of ``msg.data`` that honours ``step`` row
padding); writing is one ``tobytes()`` copy. Only little-endian data is accepted.
"""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from depthnet_nano_ros.errors import DepthNetNanoError


class ImageFormatError(DepthNetNanoError):
    """An image message that cannot be decoded (encoding, size, byte order)."""


class ImageTooLargeError(ImageFormatError):
    """An image (or a compressed image's declared size) above the caller's pixel limit."""


def check_pixels(width: int, height: int, max_pixels: int, what: str = "image") -> None:
    """Raise ImageTooLargeError if width x height exceeds `max_pixels` (0 = no limit)."""
    if max_pixels > 0 and int(width) * int(height) > max_pixels:
        raise ImageTooLargeError(
            f"{what} is {width}x{height} = {int(width) * int(height) / 1e6:.1f} MP, above the "
            f"limit of {max_pixels / 1e6:.1f} MP ({max_pixels} pixels); publish smaller images "
            "or raise input.max_pixels"
        )


@dataclass(frozen=True)
class Encoding:
    """How one sensor_msgs/Image encoding maps to numpy."""

    dtype: np.dtype
    channels: int


#: cv_bridge encodings this package reads and writes (sensor_msgs/image_encodings.hpp names).
ENCODINGS: dict[str, Encoding] = {
    "rgb8": Encoding(np.dtype(np.uint8), 3),
    "bgr8": Encoding(np.dtype(np.uint8), 3),
    "rgba8": Encoding(np.dtype(np.uint8), 4),
    "bgra8": Encoding(np.dtype(np.uint8), 4),
    "mono8": Encoding(np.dtype(np.uint8), 1),
    "8UC1": Encoding(np.dtype(np.uint8), 1),
    "mono16": Encoding(np.dtype("<u2"), 1),
    "16UC1": Encoding(np.dtype("<u2"), 1),
    "32FC1": Encoding(np.dtype("<f4"), 1),
}
#: Encodings a colour network input can come from.
COLOR_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8")
_HOST_BIG_ENDIAN = sys.byteorder == "big"


def image_to_array(encoding: str, height: int, width: int, step: int, is_bigendian: int | bool,
                   data: Any) -> np.ndarray:
    """Image fields -> HxW (1 channel) or HxWxC array viewing `data` (no copy; read-only).

    Raises ImageFormatError for an unknown encoding, zero size, big-endian data or a `step`
    / buffer length that does not match height x width x channels.
    """
    enc = ENCODINGS.get(encoding)
    if enc is None:
        raise ImageFormatError(
            f"unsupported image encoding {encoding!r}: use one of {', '.join(ENCODINGS)}"
        )
    if height <= 0 or width <= 0:
        raise ImageFormatError(
            f"image has zero size ({width}x{height}); publish images with width and height > 0"
        )
    if bool(is_bigendian) != _HOST_BIG_ENDIAN:
        raise ImageFormatError(
            f"image is {'big' if is_bigendian else 'little'}-endian but this host is "
            f"{sys.byteorder}-endian; publish with is_bigendian={int(_HOST_BIG_ENDIAN)}"
        )
    pixel_bytes = enc.dtype.itemsize * enc.channels
    if step < width * pixel_bytes:
        raise ImageFormatError(
            f"{encoding} image step {step} is smaller than width x bytes per pixel = "
            f"{width} x {pixel_bytes} = {width * pixel_bytes}; set step to at least that"
        )
    buf = np.frombuffer(data, dtype=np.uint8)
    if buf.size != step * height:
        raise ImageFormatError(
            f"{encoding} image data has {buf.size} bytes but step x height = {step} x {height} "
            f"= {step * height}; the message is truncated or its step/height are wrong"
        )
    shape: tuple[int, ...] = (height, width) if enc.channels == 1 else (height, width, enc.channels)
    strides: tuple[int, ...] = (step, pixel_bytes)
    if enc.channels > 1:
        strides = (*strides, enc.dtype.itemsize)
    return np.ndarray(shape, dtype=enc.dtype.newbyteorder("="), buffer=buf, strides=strides)


def color_from_image(encoding: str, height: int, width: int, step: int,
                     is_bigendian: int | bool, data: Any) -> tuple[np.ndarray, str]:
    """A colour Image -> (HxWx3 uint8 view, "rgb8" or "bgr8"); mono8 is replicated (a copy)."""
    if encoding not in COLOR_ENCODINGS:
        raise ImageFormatError(
            f"unsupported image encoding {encoding!r} for a colour input: publish one of "
            f"{', '.join(COLOR_ENCODINGS)} (or set input.compressed for jpeg/png)"
        )
    arr = image_to_array(encoding, height, width, step, is_bigendian, data)
    if encoding == "mono8":
        return np.repeat(arr[:, :, None], 3, axis=2), "rgb8"
    if encoding in ("rgba8", "bgra8"):
        arr = arr[:, :, :3]
    return arr, ("bgr8" if encoding.startswith("bgr") else "rgb8")


def rgb_from_image(encoding: str, height: int, width: int, step: int, is_bigendian: int | bool,
                   data: Any) -> np.ndarray:
    """A colour Image -> HxWx3 uint8 RGB (a view for rgb8/rgba8, channel-reversed view for BGR)."""
    arr, order = color_from_image(encoding, height, width, step, is_bigendian, data)
    return arr[:, :, ::-1] if order == "bgr8" else arr


def array_to_image_fields(arr: np.ndarray, encoding: str) -> dict[str, Any]:
    """Array -> Image fields {height, width, encoding, is_bigendian, step, data (bytes)}."""
    enc = ENCODINGS.get(encoding)
    if enc is None:
        raise ImageFormatError(
            f"unsupported image encoding {encoding!r}: use one of {', '.join(ENCODINGS)}"
        )
    expected_ndim = 2 if enc.channels == 1 else 3
    if arr.ndim == 3 and enc.channels == 1 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim != expected_ndim or (enc.channels > 1 and arr.shape[2] != enc.channels):
        raise ImageFormatError(
            f"array of shape {arr.shape} cannot be encoded as {encoding} "
            f"({enc.channels} channel(s)); convert it first"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageFormatError(f"array of shape {arr.shape} has zero size; nothing to encode")
    data = np.ascontiguousarray(arr, dtype=enc.dtype.newbyteorder("=")).tobytes()
    height, width = arr.shape[:2]
    step = width * enc.dtype.itemsize * enc.channels
    return {
        "height": int(height), "width": int(width), "encoding": encoding,
        "is_bigendian": int(_HOST_BIG_ENDIAN), "step": int(step),
        "data": data,
    }


def decode_compressed(fmt: str, data: Any, max_pixels: int = 0) -> np.ndarray:
    """CompressedImage (jpeg/png, image_transport naming) -> HxWx3 uint8 RGB.

    The size declared in the header is checked against `max_pixels` (0 = no limit) before any
    pixel is decoded, so a decompression bomb costs only its header.
    """
    from PIL import Image, UnidentifiedImageError

    kind = fmt.lower()
    if not any(tag in kind for tag in ("jpeg", "jpg", "png")):
        raise ImageFormatError(
            f"unsupported CompressedImage format {fmt!r}: publish jpeg or png "
            "(image_transport 'compressed')"
        )
    raw = memoryview(np.frombuffer(data, dtype=np.uint8))
    if raw.nbytes == 0:
        raise ImageFormatError("CompressedImage has no data; the publisher sent an empty frame")
    try:
        with Image.open(io.BytesIO(raw)) as img:  # reads the header only
            check_pixels(img.width, img.height, max_pixels, f"CompressedImage ({fmt})")
            rgb = np.asarray(img.convert("RGB"))
    except Image.DecompressionBombError as exc:  # above Pillow's own limit (~179 MP)
        raise ImageTooLargeError(
            f"CompressedImage ({fmt}) is a decompression bomb: {exc}; publish smaller images"
        ) from exc
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ImageFormatError(
            f"CompressedImage ({fmt}) could not be decoded: {exc}; check the publisher's codec"
        ) from exc
    if rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ImageFormatError(f"CompressedImage decodes to zero size {rgb.shape}")
    return rgb
