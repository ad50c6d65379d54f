"""Many synthetic drives at once: rendered in parallel processes and cached on disk.

``synth-drive OUT --drives N --seed S [--jobs J] [--randomize] [--no-lidar]`` writes drives
with seeds S..S+N-1 to ``OUT/drive_<seed>/2011_09_26/2011_09_26_drive_9000_sync`` (each with
its own calibration, which a randomized drive changes). A drive whose ``synth.json`` records
the same settings is kept: rerunning the command, or asking for more drives, renders only what
is missing. Training reads the whole set as one ``kind: kitti_raw`` source with ``root: OUT``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from depthnet_nano_ros.fileio import atomic_write_bytes
from depthnet_nano_ros.kitti.synth.errors import SynthDriveError
from depthnet_nano_ros.kitti.synth.writer import write_drive

__all__ = ["SetSummary", "drive_folder", "write_drive_set"]

MANIFEST = "synth.json"
FORMAT = 1  #: bump when the renderer's output changes, so cached drives are rendered again


@dataclass(frozen=True)
class _Settings:
    frames: int
    seed: int
    randomize: bool
    lidar: bool
    format: int = FORMAT


@dataclass
class SetSummary:
    """What :func:`write_drive_set` did."""

    root: Path
    drives: int        #: drives in the set now
    rendered: int      #: drives rendered by this call (the rest came from the cache)
    frames: int        #: frames rendered by this call
    seconds: float

    @property
    def frames_per_second(self) -> float:
        """Rendered frames per wall-clock second, all processes together."""
        return self.frames / self.seconds if self.seconds > 0 else float("inf")


def drive_folder(out: str | Path, seed: int) -> Path:
    """The folder of the drive with `seed` in a set."""
    return Path(out) / f"drive_{seed:06d}"


def _cached(folder: Path, settings: _Settings) -> bool:
    try:
        return json.loads((folder / MANIFEST).read_text()) == asdict(settings)
    except (OSError, ValueError):
        return False


def _render(folder: Path, settings: _Settings) -> None:
    """Render one drive into `folder` and record its settings (in a worker process)."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    write_drive(folder, settings.frames, seed=settings.seed, overwrite=True,
                randomize=settings.randomize, lidar=settings.lidar)
    atomic_write_bytes(folder / MANIFEST, json.dumps(asdict(settings)).encode())


def write_drive_set(out: str | Path, drives: int, frames: int, seed: int = 0, jobs: int = 1,
                    randomize: bool = True, lidar: bool = False,
                    progress: Callable[[int, int], None] | None = None) -> SetSummary:
    """Render the drives of seeds seed..seed+drives-1 that the cache lacks, `jobs` at a time."""
    if drives < 1 or frames < 1 or jobs < 1:
        raise SynthDriveError(f"--drives ({drives}), --frames ({frames}) and --jobs ({jobs}) "
                              "must all be at least 1")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SynthDriveError(f"output {out} exists and is not a folder; pass a folder path")
    out.mkdir(parents=True, exist_ok=True)
    todo = [(drive_folder(out, s), _Settings(frames, s, randomize, lidar))
            for s in range(seed, seed + drives)]
    todo = [(f, st) for f, st in todo if not _cached(f, st)]
    start = time.perf_counter()
    if jobs == 1 or len(todo) <= 1:
        for n, (folder, st) in enumerate(todo, 1):
            _render(folder, st)
            if progress is not None:
                progress(n, len(todo))
    else:
        with ProcessPoolExecutor(min(jobs, len(todo))) as pool:
            futures = [pool.submit(_render, f, st) for f, st in todo]
            for n, fut in enumerate(futures, 1):
                fut.result()
                if progress is not None:
                    progress(n, len(todo))
    return SetSummary(out, drives, len(todo), len(todo) * frames, time.perf_counter() - start)
