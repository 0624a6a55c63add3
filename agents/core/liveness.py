"""A worker's heartbeat: a file its event loop touches every few seconds.

The keep-alive supervisor (agents/processes/supervise.py) kills and restarts a worker whose heartbeat stops:
the event loop is what acknowledges, commits and heart-beats to Kafka, so a loop that cannot run (a thread
holding the GIL, a blocking call on the loop) is a worker that only looks alive. Touched from the loop itself,
the file's age is exactly how long the loop has been stuck. On Kubernetes the same file serves a liveness probe.
"""

from __future__ import annotations

from pathlib import Path

import faust
import structlog

log = structlog.get_logger(__name__)


def heartbeat_path(run_dir: Path, slot: str) -> Path:
    return run_dir / f"{slot}.heartbeat"


class Heartbeat:
    """Touches one file; a failure to write it is logged once, never raised (the worker itself is fine)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._failing = False

    def beat(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.touch()
        except OSError as exc:
            if not self._failing:
                log.warning("heartbeat_not_written", path=str(self.path), error_type=type(exc).__name__)
            self._failing = True
        else:
            self._failing = False


def register_heartbeat(app: faust.App, heartbeat: Heartbeat, interval_s: float) -> None:
    """Beat from the app's event loop every `interval_s` seconds, from the moment the app has started."""

    @app.timer(interval=interval_s)  # type: ignore[untyped-decorator]  # faust's decorators are untyped
    async def beat() -> None:
        heartbeat.beat()
