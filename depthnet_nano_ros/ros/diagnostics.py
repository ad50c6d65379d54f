"""Counters and per-stage latency of the depth node, as a diagnostic_msgs/DiagnosticStatus."""

from __future__ import annotations

import threading
import time
from collections import deque

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

#: Stages timed per frame, in pipeline order (milliseconds).
STAGES = ("decode", "preprocess", "inference", "postprocess", "temporal", "publish_depth",
          "colorize", "cloud", "scan", "total")
#: Problem counters: a skipped input frame, an unusable CameraInfo (depth still published
#: without depth/camera_info and points), an unexpected internal error (frame skipped), an
#: incompatible-QoS peer of any endpoint, a silence of the input (qos_watch.py).
PROBLEMS = ("bad_input", "bad_camera_info", "errors", "qos_incompatible", "input_silent")


class NodeStats:
    """Thread-safe counters, a bad-input record and a sliding window of stage latencies."""

    def __init__(self, window: int = 50) -> None:
        self._lock = threading.Lock()
        self._times: dict[str, deque[float]] = {s: deque(maxlen=window) for s in STAGES}
        self._sums = dict.fromkeys(STAGES, 0.0)  # since start, for exact means between readings
        self.counts = dict.fromkeys(("processed", *PROBLEMS, "colored", "points", "scan"), 0)
        self.last_problem = ""
        self._problem_time = 0.0
        self._done_times: deque[float] = deque(maxlen=window)

    def frame_done(self, timings_ms: dict[str, float], outputs: tuple[str, ...] = ()) -> None:
        """Record one published frame, its stage times and its optional outputs (colored...)."""
        with self._lock:
            self.counts["processed"] += 1
            for name in outputs:
                self.counts[name] += 1
            self._done_times.append(time.monotonic())
            for stage, ms in timings_ms.items():
                if stage in self._times:
                    self._times[stage].append(ms)
                    self._sums[stage] += ms

    def problem(self, message: str, kind: str = "bad_input") -> None:
        """Record a problem of `kind` (one of PROBLEMS) and its message."""
        with self._lock:
            self.counts[kind] += 1
            self.last_problem = message
            self._problem_time = time.monotonic()

    def mean_ms(self) -> dict[str, float]:
        """Mean latency per stage over the window (stages never run are left out)."""
        with self._lock:
            return {s: sum(v) / len(v) for s, v in self._times.items() if v}

    def rate_hz(self) -> float:
        """Published frames per second over the window."""
        with self._lock:
            t = list(self._done_times)
        return (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else 0.0

    def status(self, name: str, hardware_id: str, received: int, dropped: int,
               info: dict[str, str], recent_s: float) -> DiagnosticStatus:
        """DiagnosticStatus: WARN while a problem is more recent than `recent_s` seconds."""
        with self._lock:
            recent = self.last_problem and time.monotonic() - self._problem_time < recent_s
            level = DiagnosticStatus.WARN if recent else DiagnosticStatus.OK
            message = self.last_problem if recent else "ok"
            counters = {"received": received, "dropped": dropped, **self.counts}
            sums = {f"sum_ms.{k}": f"{v:.1f}" for k, v in self._sums.items() if v}
        values = {k: str(v) for k, v in counters.items()}
        values.update(info)
        values["rate_hz"] = f"{self.rate_hz():.2f}"
        values.update({f"latency_ms.{k}": f"{v:.2f}" for k, v in self.mean_ms().items()})
        values.update(sums)
        values["last_problem"] = self.last_problem
        return DiagnosticStatus(
            level=level, name=name, message=message, hardware_id=hardware_id,
            values=[KeyValue(key=k, value=v) for k, v in values.items()],
        )


def diagnostic_array(stamp, status: DiagnosticStatus) -> DiagnosticArray:
    """Wrap one status in a DiagnosticArray with `stamp`."""
    msg = DiagnosticArray(status=[status])
    msg.header.stamp = stamp
    return msg


class WarnThrottle:
    """At most one warning per key and period, so one kind of problem never hides another."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}

    def due(self, key: str, period: float) -> bool:
        """True (and the key's clock restarted) when `key` has not warned for `period` s."""
        now = time.monotonic()
        if now - self._last.get(key, -float("inf")) < period:
            return False
        self._last[key] = now
        return True
