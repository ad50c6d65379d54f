"""Shared fixtures: paths to the shared KITTI data (tests skip with a reason when absent)."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

# Keep DDS traffic on this machine and away from other test sessions running concurrently.
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_DOMAIN_ID", str(random.Random(os.getpid()).randint(1, 100)))

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
KITTI_SAMPLE = SHARED / "data" / "kitti_sample"
KITTI_DATE_DIR = KITTI_SAMPLE / "2011_09_26"
KITTI_DRIVE_DIR = KITTI_DATE_DIR / "2011_09_26_drive_0005_sync"
KITTI_OBJECT = SHARED / "data" / "kitti_object_sample"


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared KITTI data not found at {path} (clone with ../shared beside the repo)")
    return path


@pytest.fixture(scope="session")
def kitti_date_dir() -> Path:
    """`../shared/data/kitti_sample/2011_09_26` (real KITTI raw, drive 0005)."""
    return _require(KITTI_DRIVE_DIR).parent


@pytest.fixture(scope="session")
def kitti_drive_dir() -> Path:
    """`.../2011_09_26_drive_0005_sync`."""
    return _require(KITTI_DRIVE_DIR)


@pytest.fixture(scope="session")
def kitti_object_dir() -> Path:
    """`../shared/data/kitti_object_sample` (KITTI object layout)."""
    return _require(KITTI_OBJECT / "training")


@pytest.fixture
def one_torch_thread():
    """One intra-op torch thread: on a shared 2-core machine OpenMP spinning makes 2 much
    slower (training tests use it)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
