"""colorize: shape, dtype, range ends, invalid pixels black, argument checks."""

from __future__ import annotations

import numpy as np
import pytest

from depthnet_nano_ros.geometry.colormap import LUTS, colorize


def test_shape_dtype_and_range_ends():
    depth = np.array([[1.0, 80.0, 200.0], [-5.0, 40.5, 0.5]], np.float32)
    rgb = colorize(depth, 1.0, 80.0)
    assert rgb.shape == (2, 3, 3) and rgb.dtype == np.uint8
    lut = LUTS["turbo"]
    np.testing.assert_array_equal(rgb[0, 0], lut[0])
    np.testing.assert_array_equal(rgb[0, 1], lut[255])
    np.testing.assert_array_equal(rgb[0, 2], lut[255])  # clipped above vmax
    np.testing.assert_array_equal(rgb[1, 2], lut[0])  # clipped below vmin
    np.testing.assert_array_equal(rgb[1, 1], lut[128])


def test_invalid_pixels_are_black():
    depth = np.array([[np.nan, np.inf, -np.inf, 0.0, 5.0]], np.float32)
    rgb = colorize(depth, 1.0, 10.0)
    assert (rgb[0, :4] == 0).all() and rgb[0, 4].any()
    rgb = colorize(depth, -1.0, 10.0, zero_invalid=False)
    assert rgb[0, 3].any()  # zero is a value when zero_invalid is off


def test_turbo_goes_blue_to_red_and_gray_is_gray():
    lut = LUTS["turbo"].astype(int)
    assert lut.shape == (256, 3)
    assert lut[40, 2] > lut[40, 0] and lut[230, 0] > lut[230, 2]  # blue-ish low, red-ish high
    ramp = colorize(np.linspace(0.1, 1, 50, dtype=np.float32)[None], 0.0, 1.0, cmap="gray")
    assert (ramp[..., 0] == ramp[..., 2]).all() and (np.diff(ramp[0, :, 0].astype(int)) >= 0).all()


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown colormap"):
        colorize(np.ones((2, 2)), 0, 1, cmap="jet")
    with pytest.raises(ValueError, match="vmin < vmax"):
        colorize(np.ones((2, 2)), 1, 1)
    with pytest.raises(ValueError, match="HxW"):
        colorize(np.ones((2, 2, 3)), 0, 1)
