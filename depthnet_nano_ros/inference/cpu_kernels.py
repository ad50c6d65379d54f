"""The optional fused onnxruntime CPU kernels (src/cpu_kernels): where they are, if usable."""

from __future__ import annotations

import os
import sys
from pathlib import Path

LIBRARY_NAME = "libdepthnet_nano_cpu_kernels.so"
REQUIRED_CPU_FLAGS = ("avx512f", "avx512dq", "avx512bw", "avx512vl", "fma")
ENV_SWITCH = "DEPTHNET_NANO_CPU_KERNELS"


def library_path() -> Path:
    """The library next to this module, else in an installed copy of the package on sys.path."""
    here = Path(os.path.abspath(__file__)).parent / LIBRARY_NAME
    if here.is_file():
        return here
    for entry in sys.path:  # e.g. running from a source checkout next to `make install`'s venv
        candidate = Path(entry or ".") / "depthnet_nano_ros" / "inference" / LIBRARY_NAME
        if candidate.is_file():
            return candidate.absolute()
    return here


def missing_cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> list[str]:
    """The AVX-512/FMA flags the kernels need that this CPU lacks (all of them if unknown)."""
    try:
        text = Path(cpuinfo).read_text(encoding="ascii", errors="replace")
    except OSError:
        return list(REQUIRED_CPU_FLAGS)
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    flags = set(line.split(":", 1)[1].split()) if ":" in line else set()
    return [f for f in REQUIRED_CPU_FLAGS if f not in flags]


def kernels_usable() -> tuple[bool, str]:
    """(usable, reason): switched on, library built, and the CPU has AVX-512F/DQ/BW/VL + FMA."""
    env = os.environ.get(ENV_SWITCH, "").strip().lower()
    if env in ("0", "false", "no", "off"):
        return False, f"disabled by {ENV_SWITCH}={env}"
    lib = library_path()
    if not lib.is_file():
        return False, f"{LIBRARY_NAME} not built (needs x86-64 and onnxruntime's C++ headers)"
    missing = missing_cpu_flags()
    if missing:
        return False, "CPU lacks " + "/".join(missing)
    return True, f"{lib}"
