"""Dynamic batching of model requests: one model version per batch, bounded by size, tokens and wait."""

from __future__ import annotations

from models.batching.batcher import DEFAULT_SWEEP_INTERVAL_S, DynamicBatcher
from models.batching.types import (
    BatcherClosedError,
    BatchLimits,
    BatchResultCountError,
    BatchStats,
    Completed,
    Failed,
    Outcome,
    TimedOut,
    WorkItem,
)

__all__ = [
    "DEFAULT_SWEEP_INTERVAL_S",
    "BatchLimits",
    "BatchResultCountError",
    "BatchStats",
    "BatcherClosedError",
    "Completed",
    "DynamicBatcher",
    "Failed",
    "Outcome",
    "TimedOut",
    "WorkItem",
]
