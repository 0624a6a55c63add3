"""Values of the dynamic batcher: limits, work items, per-item outcomes, per-batch stats and its errors."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from schemas.errors import ConfigurationError, SluiceError

P = TypeVar("P")
R = TypeVar("R")


@dataclass(frozen=True)
class BatchLimits:
    """When a batch closes and how much may wait; checked once, at construction."""

    max_batch_size: int = 16
    max_batch_tokens: int = 4096
    max_wait_ms: float = 20.0
    max_queue: int = 256
    max_length_ratio: float = 2.0

    def __post_init__(self) -> None:
        if self.max_batch_size < 1:
            raise ConfigurationError(f"max_batch_size must be at least 1, got {self.max_batch_size}")
        if self.max_batch_tokens < 1:
            raise ConfigurationError(f"max_batch_tokens must be at least 1, got {self.max_batch_tokens}")
        if self.max_wait_ms < 0:
            raise ConfigurationError(f"max_wait_ms must not be negative, got {self.max_wait_ms}")
        if self.max_queue < 1:
            raise ConfigurationError(f"max_queue must be at least 1, got {self.max_queue}")
        if not self.max_length_ratio >= 1.0:  # also rejects NaN
            raise ConfigurationError(f"max_length_ratio must be at least 1, got {self.max_length_ratio}")

    def select(self, costs: Sequence[int]) -> tuple[list[int], bool]:
        """Which of the queued items (costs in queue order, best first) one batch takes, and whether it is closed.

        The first item always goes (an item larger than max_batch_tokens on its own still forms a batch of one:
        refusing it would starve it, and the model, not the batcher, judges whether it can run). Every prompt of a
        batch is padded to the longest and the batch decodes until its largest budget, so a batch costs its size
        times its longest item, and that is what max_batch_tokens bounds. An item that would make the longest more
        than max_length_ratio times the shortest is passed over: it waits for a batch of its own length instead of
        multiplying everyone's prefill (it stays first in line for the next batch, so it cannot starve). The
        batch is closed, ready to run without waiting for company, once it is at max_batch_size or an item of
        fitting length did not fit in the tokens left; taking stops there, keeping the order promise.
        """
        if not costs:
            return [], False
        chosen = [0]
        shortest = longest = max(costs[0], 1)
        for index in range(1, len(costs)):
            if len(chosen) == self.max_batch_size:
                return chosen, True
            cost = max(costs[index], 1)
            low, high = min(shortest, cost), max(longest, cost)
            if high > low * self.max_length_ratio:
                continue
            if (len(chosen) + 1) * high > self.max_batch_tokens:
                return chosen, True
            chosen.append(index)
            shortest, longest = low, high
        closed = len(chosen) == self.max_batch_size or len(chosen) * longest >= self.max_batch_tokens
        return chosen, closed

    def padded_tokens(self, costs: Iterable[int]) -> int:
        """What a batch of items with these costs takes: every item padded to the longest."""
        values = [max(cost, 1) for cost in costs]
        return len(values) * max(values, default=0)


@dataclass(frozen=True)
class WorkItem(Generic[P]):
    """One request for the model.

    `cost_tokens` is prompt tokens plus max new tokens; `deadline` is on the batcher's clock (None: no deadline).
    """

    payload: P
    model_version: str
    priority: int = 0
    cost_tokens: int = 1
    deadline: float | None = None

    def __post_init__(self) -> None:
        # A negative cost would let a batch sneak past max_batch_tokens.
        if self.cost_tokens < 0:
            raise ValueError(f"cost_tokens must not be negative, got {self.cost_tokens}")


@dataclass(frozen=True)
class Completed(Generic[R]):
    """The model ran the item; `queued_ms` runs from submit() to the batch being sent to the model."""

    result: R
    queued_ms: float
    batch_size: int
    batch_id: int


@dataclass(frozen=True)
class TimedOut:
    """The deadline passed while the item was queued; it was never sent to the model."""

    queued_ms: float


@dataclass(frozen=True)
class Failed:
    """The item's batch failed as a whole (run_batch raised or returned the wrong number of results)."""

    error_type: str
    message: str
    queued_ms: float
    batch_size: int


Outcome = Completed[R] | TimedOut | Failed


@dataclass(frozen=True)
class BatchStats:
    """One line per batch sent to the model, for metrics (batch size, queue depth, time in queue, tokens/s)."""

    model_version: str
    batch_id: int
    batch_size: int
    batch_tokens: int
    queue_depth_after: int
    oldest_queued_ms: float
    run_ms: float
    failed: bool


class BatcherClosedError(SluiceError):
    """submit() was called after drain() began: the batcher accepts no new work."""


class BatchResultCountError(SluiceError):
    """run_batch returned a different number of results than payloads, so no result can be matched to its item."""
