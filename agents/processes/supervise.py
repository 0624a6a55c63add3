"""Keep a worker alive: run it as a child process and start it again when it dies.

A worker exits on purpose when infrastructure stays unavailable (EX_TEMPFAIL, see agents/ingest/flow.py) and can
die of anything else (OOM killer, SIGKILL, a crash in a native library). Kafka redelivers whatever it had not
committed, so starting it again is always safe; this is what `sluice up` runs, the local stand-in for systemd's
Restart=on-failure or a Kubernetes restart policy. SIGTERM/SIGINT are passed to the worker and end supervision;
the worker is also bound to die with its supervisor (PR_SET_PDEATHSIG), so no orphan keeps a partition or the
Milvus Lite data directory.
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

import structlog

log = structlog.get_logger(__name__)

BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
STABLE_AFTER_S = 120.0  # a worker that ran this long starts the back-off from the beginning again


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:  # not Linux: the supervisor's SIGTERM forwarding still covers orderly stops
        pass


def supervise(command: Sequence[str]) -> int:
    """Run `command` until it exits 0 or the supervisor is told to stop; returns the last exit status."""
    stopping = False
    child: subprocess.Popen[bytes] | None = None

    def forward(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    failures = 0
    while True:
        started = time.monotonic()
        child = subprocess.Popen(list(command), preexec_fn=_die_with_parent)  # the point of it
        status = child.wait()
        if stopping or status == 0:
            return status
        failures = 0 if time.monotonic() - started > STABLE_AFTER_S else failures + 1
        delay = BACKOFF_S[min(failures, len(BACKOFF_S) - 1)]
        log.warning("worker_restarting", pid=child.pid, exit_status=status, restart_in_s=delay)
        deadline = time.monotonic() + delay
        while not stopping and time.monotonic() < deadline:
            time.sleep(0.2)
        if stopping:
            return status


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
