"""Peers: DenseDepth-KITTI and FastDepth complexity matches their papers."""

from __future__ import annotations

import pytest

from depthnet_nano_ros.inference.bench.peers import build_peer
from depthnet_nano_ros.model.complexity import count_complexity


def test_densedepth_matches_paper_table1():
    c = count_complexity(build_peer("densedepth"), (1, 3, 96, 320))
    assert c.params == pytest.approx(42.8e6, rel=0.01)
    assert c.macs * 16 == pytest.approx(196e9, rel=0.01)  # MACs scale with pixels: 384x1280
    assert c.output_shape == (1, 1, 48, 160)  # half resolution, as DenseDepth


def test_fastdepth_matches_its_paper():
    c = count_complexity(build_peer("fastdepth"), (1, 3, 224, 224))
    assert c.params == pytest.approx(3.93e6, rel=0.02)
    assert c.macs == pytest.approx(0.74e9, rel=0.01)
    assert c.output_shape == (1, 1, 224, 224)
