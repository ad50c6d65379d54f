"""Run the demo's steps as child processes: logged, timed, reported, and always cleaned up.

Every child runs in its own process group (its own session), so a Ctrl-C at the terminal
reaches only the demo, which then stops each child group in order: SIGINT (the graceful
shutdown of rclpy and the CLI), SIGTERM, and SIGKILL as the last resort. A step that fails
raises :class:`StepFailed` naming the step, its exit code and the last lines of its log.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from depthnet_nano_ros.errors import DepthNetNanoError

__all__ = ["ChildProcess", "DeferredInterrupts", "DemoError", "StepFailed", "StepRunner",
           "StepTiming", "log_tail"]

#: Seconds a child group gets after SIGINT, then after SIGTERM, before the next signal.
STOP_GRACE_S = (10.0, 5.0)


class DemoError(DepthNetNanoError):
    """The demo cannot run or a step of it failed."""


class StepFailed(DemoError):
    """A step exited non-zero, timed out, or a background process it needs died."""

    def __init__(self, step: str, returncode: int | None, log: Path, reason: str = "",
                 tail_lines: int = 15) -> None:
        self.step, self.returncode, self.log = step, returncode, Path(log)
        what = reason or (f"exited with code {returncode}" if returncode is not None
                          else "did not finish")
        tail = log_tail(self.log, tail_lines)
        super().__init__(f"step '{step}' failed: {what}; log {self.log}"
                         + (f", last lines:\n{tail}" if tail else " (empty)"))


@dataclass(frozen=True)
class StepTiming:
    """How long one step took."""

    name: str
    seconds: float


def log_tail(path: Path, lines: int = 15) -> str:
    """The last `lines` lines of a log (progress-bar carriage returns resolved), indented."""
    try:
        text = Path(path).read_bytes()[-64 * 1024:].decode("utf-8", "replace")
    except OSError:
        return ""
    rows = [row.rsplit("\r", 1)[-1].rstrip() for row in text.replace("\r\n", "\n").split("\n")]
    rows = [row for row in rows if row]
    return "\n".join("    " + row for row in rows[-lines:])


def _pump(src: BinaryIO, log: BinaryIO, echo: BinaryIO | None) -> None:
    """Copy a child's output to its log (and the console) as it comes."""
    while chunk := src.read1(4096):
        log.write(chunk)
        log.flush()
        if echo is not None:
            try:
                echo.write(chunk)
                echo.flush()
            except (OSError, ValueError):
                echo = None
    src.close()


class ChildProcess:
    """One command in its own process group, stdout + stderr into `log` (optionally echoed)."""

    def __init__(self, name: str, cmd: Sequence[str], log: Path, env: dict[str, str],
                 echo: BinaryIO | None = None) -> None:
        self.name, self.cmd, self.log = name, [str(c) for c in cmd], Path(log)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = open(self.log, "wb")  # noqa: SIM115 (closed in stop())
        header = ("$ " + " ".join(self.cmd) + "\n").encode()
        self._header_len = len(header)
        self._log_file.write(header)
        self._log_file.flush()
        try:
            self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=env, start_new_session=True)
        except OSError as exc:
            self._log_file.close()
            raise DemoError(f"step '{name}': cannot start {self.cmd[0]}: {exc}; run "
                            "`make install` so the console scripts exist") from exc
        self._pump = threading.Thread(target=_pump, args=(self.proc.stdout, self._log_file, echo),
                                      name=f"log-{name}", daemon=True)
        self._pump.start()
        self._stopped = False

    @property
    def pid(self) -> int:
        """Process id (= process group id) of the child."""
        return self.proc.pid

    def output(self) -> str:
        """What the child has printed so far (the log without its command line)."""
        return self.log.read_bytes()[self._header_len:].decode("utf-8", "replace")

    def poll(self) -> int | None:
        """Exit code, or None while it runs."""
        return self.proc.poll()

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the exit (raises subprocess.TimeoutExpired); returns the exit code."""
        rc = self.proc.wait(timeout)
        self._pump.join(timeout=5.0)
        return rc

    def _signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, grace_s: Sequence[float] = STOP_GRACE_S) -> int | None:
        """Stop the whole process group (SIGINT, SIGTERM, SIGKILL); returns the exit code."""
        if self._stopped:
            return self.proc.returncode
        for sig, grace in ((signal.SIGINT, grace_s[0]), (signal.SIGTERM, grace_s[1])):
            if self.proc.poll() is not None:
                break
            self._signal_group(sig)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                continue
        if self.proc.poll() is None:
            self._signal_group(signal.SIGKILL)
            self.proc.wait()
        # Grandchildren left in the group (none expected) go too.
        self._signal_group(signal.SIGKILL)
        self._stopped = True
        self._pump.join(timeout=5.0)
        self._log_file.close()
        return self.proc.returncode


class DeferredInterrupts:
    """While active, SIGINT / SIGTERM / SIGHUP only set a flag; :meth:`check` raises.

    So a Ctrl-C can never land between starting a child and recording it (which would orphan
    the child): the runner raises KeyboardInterrupt only at points where it knows every child.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    def _handler(self, signum: int, _frame: object) -> None:
        self.signum = signum

    def __enter__(self) -> DeferredInterrupts:
        for sig in self.SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)

    def check(self) -> None:
        """Raise KeyboardInterrupt if a signal arrived."""
        if self.signum is not None:
            raise KeyboardInterrupt(f"signal {signal.Signals(self.signum).name}")


class StepRunner:
    """Runs foreground steps and background services; `close()` stops everything still running."""

    def __init__(self, log_dir: Path, env: dict[str, str], echo: BinaryIO | None = None,
                 announce: Callable[[str], None] = lambda _msg: None,
                 grace_s: Sequence[float] = STOP_GRACE_S,
                 interrupts: DeferredInterrupts | None = None) -> None:
        self.log_dir = Path(log_dir)
        self.interrupts = interrupts
        self.grace_s = tuple(grace_s)
        self.env = env
        self.echo = echo
        self.announce = announce
        self.timings: list[StepTiming] = []
        self._children: list[ChildProcess] = []
        self._background: list[ChildProcess] = []

    def __enter__(self) -> StepRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _log_path(self, name: str) -> Path:
        """logs/<name>.log with the name made file-safe ("evaluate --live" -> evaluate_live)."""
        return self.log_dir / (re.sub(r"\s+-*|[^A-Za-z0-9_.-]+", "_", name).strip("_") + ".log")

    def _check_interrupt(self) -> None:
        if self.interrupts is not None:
            self.interrupts.check()

    def check_services(self, step: str) -> None:
        """Raise StepFailed for a background service that died (the likelier root cause)."""
        for bg in self._background:
            rc = bg.poll()
            if rc is not None:
                raise StepFailed(bg.name, rc, bg.log,
                                 f"exited with code {rc} while '{step}' was running")

    def run(self, name: str, cmd: Sequence[str], timeout_s: float | None = None) -> StepTiming:
        """Run one step to completion, its output echoed; raises StepFailed on failure."""
        self.announce(name)
        t0 = time.monotonic()
        child = ChildProcess(name, cmd, self._log_path(name), self.env, self.echo)
        self._children.append(child)
        try:
            while child.poll() is None:
                self._check_interrupt()
                if timeout_s is not None and time.monotonic() - t0 > timeout_s:
                    raise StepFailed(name, None, child.log,
                                     f"did not finish within {timeout_s:.0f} s (stopped)")
                time.sleep(0.1)
            rc = child.wait()
        finally:
            child.stop(self.grace_s)
            self._children.remove(child)
        if rc != 0:
            self.check_services(name)
            raise StepFailed(name, rc, child.log)
        timing = StepTiming(name, time.monotonic() - t0)
        self.timings.append(timing)
        return timing

    def start(self, name: str, cmd: Sequence[str], ready: Callable[[str], bool],
              timeout_s: float = 180.0) -> ChildProcess:
        """Start a background service; wait until `ready(its output)` or raise StepFailed."""
        self.announce(name)
        t0 = time.monotonic()
        child = ChildProcess(name, cmd, self._log_path(name), self.env, None)
        self._children.append(child)
        self._background.append(child)
        while not ready(child.output()):
            self._check_interrupt()
            rc = child.poll()
            if rc is not None:
                raise StepFailed(name, rc, child.log, f"exited with code {rc} before it was ready")
            if time.monotonic() - t0 > timeout_s:
                raise StepFailed(name, None, child.log, f"not ready within {timeout_s:.0f} s")
            time.sleep(0.2)
        self.timings.append(StepTiming(name, time.monotonic() - t0))
        return child

    def stop(self, child: ChildProcess) -> int | None:
        """Stop one background service now; returns its exit code."""
        rc = child.stop(self.grace_s)
        if child in self._children:
            self._children.remove(child)
        if child in self._background:
            self._background.remove(child)
        return rc

    def close(self) -> None:
        """Stop every child still running, newest first (also on errors and Ctrl-C).

        A second Ctrl-C during the clean-up is ignored so it cannot leave a child behind.
        """
        in_main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if in_main else None
        try:
            while self._children:
                child = self._children.pop()
                if child in self._background:
                    self._background.remove(child)
                child.stop(self.grace_s)
        finally:
            if in_main:
                signal.signal(signal.SIGINT, previous)
