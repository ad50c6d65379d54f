"""The node's warning throttle: one kind of bad input never hides another."""

from __future__ import annotations

import pytest

pytest.importorskip("diagnostic_msgs", reason="ROS 2 messages (make install) are not installed")

from depthnet_nano_ros.ros.diagnostics import WarnThrottle  # noqa: E402


def test_each_key_is_throttled_on_its_own():
    throttle = WarnThrottle()
    assert throttle.due("bad_input:DecodeError", 60.0)
    assert not throttle.due("bad_input:DecodeError", 60.0)  # the same kind again: quiet
    assert throttle.due("bad_input:ImageTooLargeError", 60.0)  # another kind still warns
    assert throttle.due("bad_input:DecodeError", 0.0)  # the period over: warns again
