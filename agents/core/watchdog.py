"""A time budget per batch: a stage that runs past it makes the worker exit, to be restarted.

A stage runs in a thread, and a Python thread cannot be interrupted: the only way to stop a batch that runs too
long is to end the process (exit_for_restart). Kafka then redelivers the batch and the stall journal
(agents/core/stalls.py) has the restarted worker run it one record at a time.

Two layers, because a stalled thread may hold the GIL:
- a watcher thread checks the running batches every second and exits through exit_for_restart (one log line
  naming the stage, exit status 75). It needs the GIL, which a slow pure-Python stage or a pack regex on RE2
  gives up between steps;
- a backstop armed for the earliest deadline plus a grace: faulthandler's watchdog, a C thread that needs no GIL,
  dumps every thread's stack (code locations only, no values) and exits with status 1. It catches a C loop that
  never releases the GIL (Python's `re` in a built-in recognizer, a native library). Under the keep-alive
  supervisor such a worker is usually killed first, its heartbeat having stopped (agents/processes/supervise.py).
"""

from __future__ import annotations

import faulthandler
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol, TextIO

from agents.core.restart import exit_for_restart

BACKSTOP_GRACE_S = 30.0
CHECK_EVERY_S = 1.0


class Backstop(Protocol):
    """Ends the process after `seconds` unless disarmed, without needing the GIL."""

    def arm(self, seconds: float) -> None: ...

    def disarm(self) -> None: ...


class FaulthandlerBackstop:
    """faulthandler.dump_traceback_later(exit=True): one timer per process, re-armed for the earliest deadline."""

    def __init__(self, file: TextIO | None = None) -> None:
        self.file = file

    def arm(self, seconds: float) -> None:
        # The worker's stderr is its log file; sys.stderr may have been replaced by something without a fileno.
        file = self.file or sys.__stderr__ or sys.stderr
        faulthandler.dump_traceback_later(max(seconds, 0.001), exit=True, file=file)

    def disarm(self) -> None:
        faulthandler.cancel_dump_traceback_later()


def _exit_overrun(stage: str, elapsed_s: float, budget_s: float) -> None:
    exit_for_restart(
        stage,
        f"a batch ran {elapsed_s:.0f}s, past its {budget_s:g}s time budget (SLUICE_BATCH_TIME_BUDGET_S); "
        "the restarted worker retries it record by record",
    )


@dataclass
class _Running:
    stage: str
    started: float
    deadline: float


class BatchWatchdog:
    """Watches every running batch against one budget (several agents may run batches at once)."""

    def __init__(
        self,
        budget_s: float,
        *,
        on_overrun: Callable[[str, float, float], None] = _exit_overrun,
        backstop: Backstop | None = None,
        backstop_grace_s: float = BACKSTOP_GRACE_S,
        clock: Callable[[], float] = time.monotonic,
        check_every_s: float | None = CHECK_EVERY_S,
    ) -> None:
        """`check_every_s=None` starts no watcher thread: the caller (a test) calls check() itself."""
        self.budget_s = budget_s
        self.on_overrun = on_overrun
        self.backstop = backstop
        self.backstop_grace_s = backstop_grace_s
        self.clock = clock
        self.check_every_s = check_every_s
        self._running: dict[int, _Running] = {}
        self._next_token = 0
        self._lock = threading.Lock()
        self._watcher: threading.Thread | None = None

    @contextmanager
    def watching(self, stage: str) -> Iterator[None]:
        """The block is one batch of `stage`: past the budget, on_overrun is called (by default the worker exits)."""
        token = self._begin(stage)
        try:
            yield
        finally:
            self._end(token)

    def check(self) -> None:
        """Call on_overrun for the longest-running batch past its deadline, if any."""
        now = self.clock()
        with self._lock:
            overdue = [run for run in self._running.values() if now >= run.deadline]
        if overdue:
            worst = min(overdue, key=lambda run: run.started)
            self.on_overrun(worst.stage, now - worst.started, self.budget_s)

    def _begin(self, stage: str) -> int:
        now = self.clock()
        with self._lock:
            token = self._next_token
            self._next_token += 1
            self._running[token] = _Running(stage, now, now + self.budget_s)
            self._rearm(now)
            if self._watcher is None and self.check_every_s is not None:
                self._watcher = threading.Thread(target=self._watch, name="batch-watchdog", daemon=True)
                self._watcher.start()
        return token

    def _end(self, token: int) -> None:
        with self._lock:
            self._running.pop(token, None)
            self._rearm(self.clock())

    def _rearm(self, now: float) -> None:
        if self.backstop is None:
            return
        if self._running:
            earliest = min(run.deadline for run in self._running.values())
            self.backstop.arm(earliest - now + self.backstop_grace_s)
        else:
            self.backstop.disarm()

    def _watch(self) -> None:
        assert self.check_every_s is not None
        while True:
            time.sleep(self.check_every_s)
            self.check()
