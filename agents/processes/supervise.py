"""Keep a worker alive: run it as a child process, start it again when it dies, kill it when it hangs.

A worker exits on purpose when infrastructure stays unavailable or a batch runs past its time budget (EX_TEMPFAIL,
see agents/core/restart.py) and can die of anything else (OOM killer, SIGKILL, a crash in a native library).
Kafka redelivers whatever it had not committed, so starting it again is always safe; this is what `sluice up`
runs, the local stand-in for systemd's Restart=on-failure or a Kubernetes restart policy.

A worker can also hang without dying: a thread that holds the GIL stops the event loop, and with it the Kafka
heartbeats, acknowledgements and commits. Given a HeartbeatWatch, the supervisor reads the worker's heartbeat file
(touched by its event loop, agents/core/liveness.py) and kills the worker with SIGKILL (a process stuck holding
the GIL cannot act on SIGTERM) once the file has not changed for `timeout_s`, or for `startup_s` before its first
beat (model loading, reading rules.v1). Time is measured on the supervisor's monotonic clock from when it saw the
file change, so a jump of the wall clock kills nobody.

SIGTERM/SIGINT are passed to the worker and end supervision; the worker is also bound to die with its supervisor
(PR_SET_PDEATHSIG), so no orphan keeps a partition or the Milvus Lite data directory.

`python -m agents.processes.supervise -- COMMAND...` supervises COMMAND with the heartbeat of the slot named by
SLUICE_WORKER_SLOT; `sluice up` starts every worker that way.
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Protocol

import structlog

if TYPE_CHECKING:
    from agents.core.settings import Settings

log = structlog.get_logger(__name__)

BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
STABLE_AFTER_S = 120.0  # a worker that ran this long starts the back-off from the beginning again
POLL_S = 1.0


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:  # not Linux: the supervisor's SIGTERM forwarding still covers orderly stops
        pass


class Child(Protocol):
    """The part of subprocess.Popen the supervisor uses."""

    @property
    def pid(self) -> int: ...

    def poll(self) -> int | None: ...

    def wait(self) -> int: ...

    def kill(self) -> None: ...

    def send_signal(self, signal: int) -> None: ...


def start_child(command: Sequence[str]) -> Child:
    return subprocess.Popen(list(command), preexec_fn=_die_with_parent)  # the point of it


@dataclass(frozen=True)
class HeartbeatWatch:
    """When a supervised worker counts as hung: its heartbeat file unchanged for `timeout_s`, or, before the first
    change since it started, for `startup_s`."""

    path: Path
    timeout_s: float
    startup_s: float

    def read(self) -> int | None:
        """The file's modification time in ns (None while there is no file)."""
        try:
            return self.path.stat().st_mtime_ns
        except OSError:
            return None


class HeartbeatMonitor:
    """Follows one child's heartbeat: when the file last changed, on the supervisor's clock."""

    def __init__(self, watch: HeartbeatWatch, now: float) -> None:
        self.watch = watch
        self._seen = watch.read()
        self._changed_at = now
        self._beating = False

    def silent_for(self, now: float) -> float | None:
        """Seconds without a beat, once past the bound that applies; None while the worker is alive."""
        current = self.watch.read()
        if current is not None and current != self._seen:
            self._seen, self._changed_at, self._beating = current, now, True
        silent = now - self._changed_at
        bound = self.watch.timeout_s if self._beating else self.watch.startup_s
        return silent if silent > bound else None


class Supervisor:
    """The keep-alive loop, with its process start, clock and sleep injectable (unit tests use fakes)."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        watch: HeartbeatWatch | None = None,
        start: Callable[[Sequence[str]], Child] = start_child,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        poll_s: float = POLL_S,
    ) -> None:
        self.command = list(command)
        self.watch = watch
        self.start = start
        self.clock = clock
        self.sleep = sleep
        self.poll_s = poll_s
        self.stopping = False
        self.child: Child | None = None
        self.hang_kills = 0

    def stop(self, signum: int) -> None:
        """Stop supervising; pass the signal on to the worker."""
        self.stopping = True
        if self.child is not None and self.child.poll() is None:
            self.child.send_signal(signum)

    def run(self) -> int:
        """Run the command until it exits 0 or supervision is stopped; returns the last exit status."""
        failures = 0
        while True:
            started = self.clock()
            self.child = self.start(self.command)
            status = self._wait(self.child, started)
            if self.stopping or status == 0:
                return status
            failures = 0 if self.clock() - started > STABLE_AFTER_S else failures + 1
            delay = BACKOFF_S[min(failures, len(BACKOFF_S) - 1)]
            log.warning("worker_restarting", pid=self.child.pid, exit_status=status, restart_in_s=delay)
            deadline = self.clock() + delay
            while not self.stopping and self.clock() < deadline:
                self.sleep(0.2)
            if self.stopping:
                return status

    def _wait(self, child: Child, started: float) -> int:
        monitor = HeartbeatMonitor(self.watch, started) if self.watch is not None else None
        while True:
            status = child.poll()
            if status is not None:
                return status
            silent = monitor.silent_for(self.clock()) if monitor is not None and not self.stopping else None
            if silent is not None:
                log.error(
                    "worker_unresponsive",
                    pid=child.pid,
                    silent_s=round(silent, 1),
                    heartbeat=str(self.watch.path) if self.watch else None,
                    action="SIGKILL, then restart",
                )
                self.hang_kills += 1
                child.kill()
                return child.wait()
            self.sleep(self.poll_s)


def supervise(command: Sequence[str], *, watch: HeartbeatWatch | None = None) -> int:
    """Run `command` until it exits 0 or the supervisor is told to stop; returns the last exit status."""
    supervisor = Supervisor(command, watch=watch)

    def forward(signum: int, _frame: FrameType | None) -> None:
        supervisor.stop(signum)

    previous = {signum: signal.signal(signum, forward) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        return supervisor.run()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def worker_child(pid: int) -> int | None:
    """The worker a keep-alive supervisor runs (its child); None between a death and the restart."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    return int(children[0]) if children else None


def worker_process(pid: int) -> int:
    """The process CPU and memory figures must be read from: the worker under a supervisor, else `pid` itself."""
    return worker_child(pid) or pid


def heartbeat_watch(settings: Settings, slot: str) -> HeartbeatWatch:
    """The watch over the worker of `slot`, with the bounds from settings."""
    from agents.core.liveness import heartbeat_path

    return HeartbeatWatch(
        heartbeat_path(settings.run_dir, slot),
        timeout_s=settings.heartbeat_timeout_s,
        startup_s=settings.heartbeat_startup_s,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m agents.processes.supervise -- COMMAND...`: COMMAND kept alive, watched through the heartbeat of
    the slot SLUICE_WORKER_SLOT names."""
    from agents.core.logs import configure_logging
    from agents.core.settings import load_settings

    args = list(sys.argv[1:] if argv is None else argv)
    command = args[1:] if args[:1] == ["--"] else args
    settings = load_settings()
    configure_logging(settings.log_level)
    if not command or settings.worker_slot is None:
        log.error("supervise_usage", usage="SLUICE_WORKER_SLOT=<slot> python -m agents.processes.supervise -- CMD")
        return 2
    return supervise(command, watch=heartbeat_watch(settings, settings.worker_slot))


if __name__ == "__main__":
    sys.exit(main())
