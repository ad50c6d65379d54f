"""Keep freed large buffers in the process heap (glibc), so per-frame buffers cost no page faults.

Every frame allocates a few multi-megabyte buffers (depth image, cloud, message copies). By
default glibc serves them with fresh mmap()s or returns freed memory to the kernel, so each
frame page-faults its buffers in again: measured 13 ms instead of 1 ms for a 1242x375 cloud.
Raising the mmap and trim thresholds keeps that memory mapped for reuse; the process then holds
its peak working set (tens of MB for the depth node).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_MAX = 32 * 1024 * 1024  # glibc's upper limit on 64-bit
_TRIM_THRESHOLD = 512 * 1024 * 1024


def keep_freed_memory() -> bool:
    """Tune glibc malloc for large reused buffers; False where not glibc (no-op)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    ok = mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)
    ok &= mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
    return bool(ok)
