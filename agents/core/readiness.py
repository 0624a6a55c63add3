"""A worker's ready mark: a file it writes only once it can do its work (models loaded, packs and registry read,
table recovery finished), so that `sluice up` and `sluice status` say ready when every role is, not when the
index worker's API first answers. A (re)started worker removes its mark first, so a worker the keep-alive
supervisor restarts is not ready again until it has recovered."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, cast

import faust
import structlog
from faust.tables.manager import TableManager

log = structlog.get_logger(__name__)


def ready_path(run_dir: Path, slot: str) -> Path:
    return run_dir / f"{slot}.ready"


def clear_ready(run_dir: Path, slot: str | None) -> None:
    if slot:
        ready_path(run_dir, slot).unlink(missing_ok=True)


def read_ready(run_dir: Path, slot: str) -> dict[str, Any] | None:
    """The mark's content, or None when the worker of `slot` is not ready (or never said so)."""
    try:
        mark = json.loads(ready_path(run_dir, slot).read_text())
    except (OSError, ValueError):
        return None
    return mark if isinstance(mark, dict) else None


def mark_ready(run_dir: Path, slot: str | None, **details: Any) -> None:
    if not slot:  # a worker started by hand (`sluice worker`), not by `sluice up`: nobody waits for a mark
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    path = ready_path(run_dir, slot)
    tmp = path.with_suffix(".ready.tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), "ready_at": time.time(), **details}))
    tmp.rename(path)  # atomic: a reader sees no mark or a whole one


async def mark_ready_when_recovered(app: faust.App, run_dir: Path, slot: str | None, **details: Any) -> None:
    """Wait for Faust's table recovery (set also when there is nothing to recover), then write the mark."""
    # The concrete TableManager (every Sluice app has one, see core/app.py) owns the Recovery service.
    tables = cast(TableManager, app.tables)
    await tables.recovery.completed.wait()
    mark_ready(run_dir, slot, **details)
    log.info("worker_ready", slot=slot, **details)
