"""The one way a worker leaves to be restarted: nothing more is acknowledged or committed, so Kafka hands what
was in flight to the restarted worker (the keep-alive supervisor, or Kubernetes, starts it again)."""

from __future__ import annotations

import os
from typing import NoReturn

import structlog

log = structlog.get_logger(__name__)

EXIT_RETRIABLE = 75  # EX_TEMPFAIL: the supervisor restarts a worker that exits with it
UNAVAILABLE = "infrastructure unavailable (after retries where the stage retries); input left unacknowledged"


def exit_for_restart(stage: str, reason: str, *, error: BaseException | None = None) -> NoReturn:
    """Exit at once (no cleanup that could acknowledge or commit): an open transaction is aborted when the
    successor starts, an unacknowledged batch is redelivered."""
    log.critical(
        "worker_exiting_for_restart",
        stage=stage,
        reason=reason,
        error_type=type(error).__name__ if error is not None else None,
    )
    os._exit(EXIT_RETRIABLE)
