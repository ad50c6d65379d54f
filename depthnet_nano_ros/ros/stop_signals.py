"""SIGINT / SIGTERM for depth_node, from its first line of start-up to the end of spinning.

A stop never interrupts Python code mid-statement (which is how a signal during imports or
model loading used to print a traceback): the handler only records it; start-up checks the
record between its stages and the spin loop between callbacks, then the node shuts down as on
any stop (exit code 0). A second signal while a stage still runs stops at once.
"""

from __future__ import annotations

import signal
import sys
import threading

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequested(BaseException):
    """A stop signal arrived while depth_node was still starting (not an error)."""


class StopSignals:
    """Records SIGINT / SIGTERM; `check()` raises StopRequested once one arrived."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self.signal_name = ""
        self.urgent = True  # a second signal raises at once, until the node spins

    def install(self) -> StopSignals:
        """Replace Python's SIGINT / SIGTERM handlers by this recorder (main thread only)."""
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._handle)
        return self

    def _handle(self, signum: int, _frame: object) -> None:
        again = self.requested.is_set()
        self.signal_name = self.signal_name or signal.Signals(signum).name
        self.requested.set()
        if again and self.urgent:
            raise StopRequested(self.signal_name)

    def check(self, stage: str) -> None:
        """Raise StopRequested (after a one-line note on stderr) if a stop was requested."""
        if self.requested.is_set():
            sys.stderr.write(f"depth_node: {self.signal_name} during start-up ({stage}): "
                             "stopping\n")
            raise StopRequested(self.signal_name)


#: The process-wide recorder (installed by the `depth_node` entry point).
STOP = StopSignals()
