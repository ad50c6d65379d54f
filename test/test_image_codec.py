"""Image <-> numpy with cv_bridge semantics, on a real KITTI frame."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from depthnet_nano_ros.errors import DepthNetNanoError
from depthnet_nano_ros.geometry.image_codec import (
    ENCODINGS,
    ImageFormatError,
    array_to_image_fields,
    color_from_image,
    decode_compressed,
    image_to_array,
    rgb_from_image,
)


@pytest.fixture(scope="module")
def kitti_rgb(kitti_drive_dir) -> np.ndarray:
    """Frame 0 of drive 0005 as 375x1242x3 uint8 RGB."""
    return np.asarray(Image.open(kitti_drive_dir / "image_02/data/0000000000.png").convert("RGB"))


def _padded(arr: np.ndarray, pad: int) -> tuple[int, bytes]:
    """Row-major bytes of `arr` with `pad` junk bytes after each row; returns (step, data)."""
    rows = arr.reshape(arr.shape[0], -1).view(np.uint8)
    junk = np.full((arr.shape[0], pad), 0xAB, dtype=np.uint8)
    data = np.concatenate([rows, junk], axis=1)
    return data.shape[1], data.tobytes()


def test_error_is_a_package_error():
    assert issubclass(ImageFormatError, DepthNetNanoError)


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8", "mono8"])
def test_color_inputs_decode_to_the_same_rgb(kitti_rgb, encoding):
    rgb = kitti_rgb
    mono = rgb[:, :, 1]
    alpha = np.full(rgb.shape[:2] + (1,), 200, np.uint8)
    src = {
        "rgb8": rgb, "bgr8": rgb[:, :, ::-1],
        "rgba8": np.concatenate([rgb, alpha], 2),
        "bgra8": np.concatenate([rgb[:, :, ::-1], alpha], 2),
        "mono8": mono,
    }[encoding]
    f = array_to_image_fields(src, encoding)
    assert f["step"] == rgb.shape[1] * ENCODINGS[encoding].channels
    out = rgb_from_image(f["encoding"], f["height"], f["width"], f["step"], f["is_bigendian"],
                         f["data"])
    expected = np.repeat(mono[:, :, None], 3, 2) if encoding == "mono8" else rgb
    assert out.shape == rgb.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out, expected)


def test_reading_is_zero_copy_and_honours_step_padding(kitti_rgb):
    step, data = _padded(kitti_rgb, pad=10)
    buf = bytearray(data)
    view, order = color_from_image("rgb8", 375, 1242, step, 0, buf)
    assert order == "rgb8"
    np.testing.assert_array_equal(view, kitti_rgb)  # padding bytes are skipped
    buf[0] = (int(kitti_rgb[0, 0, 0]) + 1) % 256  # a view: edits of the buffer show through
    assert view[0, 0, 0] == buf[0]
    bgr, order = color_from_image("bgra8", 2, 3, 3 * 4 + 4, 0, bytes(range(32)))
    assert order == "bgr8" and bgr.shape == (2, 3, 3)
    assert bgr[1, 0].tolist() == [16, 17, 18]


def test_float_depth_round_trip_with_nan():
    depth = np.random.default_rng(0).uniform(1, 80, (37, 53)).astype(np.float32)
    depth[3, 4] = np.nan
    f = array_to_image_fields(depth, "32FC1")
    assert (f["encoding"], f["step"], f["is_bigendian"]) == ("32FC1", 53 * 4, 0)
    out = image_to_array("32FC1", 37, 53, f["step"], 0, f["data"])
    np.testing.assert_array_equal(out, depth)
    step, data = _padded(depth, pad=12)
    np.testing.assert_array_equal(image_to_array("32FC1", 37, 53, step, 0, data), depth)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("yuv422", 2, 2, 4, 0, bytes(8)), "unsupported image encoding"),
        (("32FC1", 2, 2, 8, 0, bytes(16)), "colour input"),
        (("rgb8", 0, 4, 12, 0, b""), "zero size"),
        (("rgb8", 4, 0, 0, 0, b""), "zero size"),
        (("rgb8", 2, 2, 6, 1, bytes(12)), "endian"),
        (("rgb8", 2, 2, 5, 0, bytes(10)), "step 5 is smaller"),
        (("rgb8", 2, 2, 6, 0, bytes(11)), "11 bytes"),
        (("rgb8", 2, 2, 6, 0, bytes(13)), "13 bytes"),
    ],
)
def test_bad_images_raise_image_format_error(args, words):
    with pytest.raises(ImageFormatError, match=words):
        color_from_image(*args)


def test_encode_rejects_wrong_shapes():
    with pytest.raises(ImageFormatError, match="cannot be encoded"):
        array_to_image_fields(np.zeros((4, 4), np.uint8), "rgb8")
    with pytest.raises(ImageFormatError, match="unsupported"):
        array_to_image_fields(np.zeros((4, 4), np.uint8), "nope")
    with pytest.raises(ImageFormatError, match="zero size"):
        array_to_image_fields(np.zeros((0, 4), np.float32), "32FC1")


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_compressed_decode(kitti_rgb, fmt):
    bio = io.BytesIO()
    Image.fromarray(kitti_rgb).save(bio, format=fmt.upper(), quality=95, subsampling=0)
    out = decode_compressed(f"rgb8; {fmt} compressed bgr8", bio.getvalue())
    assert out.shape == kitti_rgb.shape
    if fmt == "png":
        np.testing.assert_array_equal(out, kitti_rgb)
    else:  # lossy: close on average, and in RGB order (not BGR)
        err = np.abs(out.astype(int) - kitti_rgb).mean()
        assert err < 4 < np.abs(out[:, :, ::-1].astype(int) - kitti_rgb).mean()


def test_compressed_errors():
    with pytest.raises(ImageFormatError, match="unsupported CompressedImage format"):
        decode_compressed("tiff", b"1234")
    with pytest.raises(ImageFormatError, match="could not be decoded"):
        decode_compressed("png", b"not a png at all")
    with pytest.raises(ImageFormatError, match="no data"):
        decode_compressed("jpeg", b"")


def test_pixel_limit_is_checked_from_the_header_before_decoding():
    import tracemalloc

    from depthnet_nano_ros.geometry.image_codec import ImageTooLargeError, check_pixels
    from depthnet_nano_ros.ros.fuzz_cases import png_bomb

    bomb = png_bomb(8000, 8000)  # 186 kB, 192 MB of pixels
    tracemalloc.start()
    with pytest.raises(ImageTooLargeError, match=r"8000x8000 = 64\.0 MP.*input\.max_pixels"):
        decode_compressed("png", bomb, max_pixels=16_777_216)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 20e6  # numpy/Pillow buffers are traced: nothing near 192 MB was allocated
    assert decode_compressed("png", png_bomb(40, 30), max_pixels=1200).shape == (30, 40, 3)
    check_pixels(1242, 375, 465_750)
    with pytest.raises(ImageTooLargeError, match="1242x376"):
        check_pixels(1242, 376, 465_750)
    check_pixels(10**6, 10**6, 0)  # 0 = no limit
