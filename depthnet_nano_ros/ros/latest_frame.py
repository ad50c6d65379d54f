"""A one-slot, latest-wins hand-over between subscription callbacks and the inference worker."""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestFrameSlot(Generic[T]):
    """Holds at most one frame: `put` never blocks and replaces (drops) an unprocessed frame."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._closed = False
        self.received = 0
        self.dropped = 0

    def put(self, item: T) -> bool:
        """Store `item` as the latest frame; returns True if an unprocessed frame was dropped."""
        with self._cond:
            dropped = self._item is not None
            self._item = item
            self.received += 1
            self.dropped += int(dropped)
            self._cond.notify()
            return dropped

    def get(self, timeout: float | None = None) -> T | None:
        """Take the latest frame, waiting up to `timeout` s; None on timeout or when closed."""
        with self._cond:
            if self._item is None and not self._closed:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            return None if self._closed else item

    def close(self) -> None:
        """Wake and release any waiting `get` for shutdown."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
