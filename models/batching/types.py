"""Values of the dynamic batcher: limits, work items, per-item outcomes, per-batch stats and its errors."""

from __future__ import annotations

import itertools
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
    # What one decoding step of a batch of n items costs, in prompt tokens prefilled, at measured batch sizes
    # (CTranslate2 int8 SmolLM2-135M on 2 CPU cores, 2026-12-08, ~300 tokens of context: prefill 0.7 ms a token
    # whatever the batch size; a step 29 ms alone, 80 ms at 4, 107 at 8, 157 at 16, ~262 at 32). Between the points
    # linear; beyond the last, its slope. Used to weigh a batch's length spread, see select().
    step_costs: tuple[tuple[int, float], ...] = ((1, 41.0), (4, 114.0), (8, 153.0), (16, 224.0), (32, 374.0))
    # A prompt token fed in the decoding loop costs less than a generated one (no sampling): six prompts of 258-349
    # tokens, 24 new, took 9.5 s, which puts each of the 91 fed steps at 0.7 of a generated step.
    fed_step_factor: float = 0.7

    def __post_init__(self) -> None:
        sizes = [size for size, _ in self.step_costs]
        if not sizes or sizes != sorted(set(sizes)) or sizes[0] < 1 or not all(c >= 0 for _, c in self.step_costs):
            raise ConfigurationError(
                f"step_costs must be (batch size, cost >= 0) by increasing size, got {self.step_costs}"
            )
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

    def select(self, costs: Sequence[int], new_tokens: Sequence[int] | None = None) -> tuple[list[int], bool]:
        """Which of the queued items (costs in queue order, best first) one batch takes, and whether it is closed.

        The first item always goes (an item larger than max_batch_tokens on its own still forms a batch of one:
        refusing it would starve it, and the model, not the batcher, judges whether it can run). Every prompt of a
        batch is padded to the longest and the batch decodes until its largest budget, so a batch costs its size
        times its longest item, and that is what max_batch_tokens bounds. An item that would make the longest more
        than max_length_ratio times the shortest is passed over: it waits for a batch of its own length instead of
        multiplying everyone's prefill (it stays first in line for the next batch, so it cannot starve). The
        batch is closed, ready to run without waiting for company, once it is at max_batch_size or an item of
        fitting length did not fit in the tokens left; taking stops there, keeping the order promise.

        With `new_tokens` (each item's new-token budget; its prompt is its cost minus that), the items taken are
        narrowed further: CTranslate2 prefills a batch only up to its shortest prompt and feeds the rest of every
        longer prompt one decoding step at a time, so a spread of 90 tokens costs 90 steps of the whole batch
        (measured: six prompts of 258-349 tokens took 9.5 s together, 3.7 s when all were 349 long). The items
        taken are split, by prompt length, into the runs that answer them all soonest (`batch_cost`), and the run
        holding the first item is the batch. The others wait, first in line, for the batches after it; the batch is
        then closed (waiting would not change the choice).
        """
        if not costs:
            return [], False
        chosen = [0]
        shortest = longest = max(costs[0], 1)
        closed: bool | None = None
        for index in range(1, len(costs)):
            if len(chosen) == self.max_batch_size:
                closed = True
                break
            cost = max(costs[index], 1)
            low, high = min(shortest, cost), max(longest, cost)
            if high > low * self.max_length_ratio:
                continue
            if (len(chosen) + 1) * high > self.max_batch_tokens:
                closed = True
                break
            chosen.append(index)
            shortest, longest = low, high
        if closed is None:
            closed = len(chosen) == self.max_batch_size or len(chosen) * longest >= self.max_batch_tokens
        if new_tokens is None or len(chosen) < 2:
            return chosen, closed
        run = self._run_of_first(chosen, costs, new_tokens)
        return run, closed or len(run) < len(chosen)

    def step_cost(self, size: int) -> float:
        """One decoding step of a batch of `size`, in prompt tokens prefilled (step_costs, interpolated)."""
        points = self.step_costs
        if size <= points[0][0] or len(points) == 1:
            return points[0][1]
        for (n0, c0), (n1, c1) in itertools.pairwise(points):
            if size <= n1:
                return c0 + (c1 - c0) * (size - n0) / (n1 - n0)
        (n0, c0), (n1, c1) = points[-2], points[-1]
        return c1 + (c1 - c0) * (size - n1) / (n1 - n0)

    def batch_cost(self, prompts: Sequence[int], new_tokens: int) -> float:
        """Estimated time of one generate_batch call, in prompt tokens prefilled: the shortest prompt prefilled for
        every item, then a step of the whole batch for each token of length spread and each new token."""
        return self._estimate(len(prompts), min(prompts), max(prompts), new_tokens)

    def _estimate(self, size: int, shortest: int, longest: int, new_tokens: int) -> float:
        steps = (longest - shortest) * self.fed_step_factor + new_tokens
        return size * shortest + steps * self.step_cost(size)

    def _run_of_first(self, chosen: list[int], costs: Sequence[int], new_tokens: Sequence[int]) -> list[int]:
        """Split the chosen items, sorted by prompt length, into runs of least total batch_cost (dynamic
        programming over the sorted order); the run holding chosen[0], in queue order."""
        prompt = {i: max(costs[i] - new_tokens[i], 1) for i in chosen}
        by_length = sorted(chosen, key=lambda i: (prompt[i], i))
        count = len(by_length)
        best = [0.0] + [float("inf")] * count  # best[j]: least cost of the first j items in runs
        cut = [0] * (count + 1)  # cut[j]: where the last run of that split starts
        for end in range(1, count + 1):
            widest_new = 0
            longest = prompt[by_length[end - 1]]
            for start in range(end - 1, -1, -1):
                widest_new = max(widest_new, max(new_tokens[by_length[start]], 1))
                total = best[start] + self._estimate(end - start, prompt[by_length[start]], longest, widest_new)
                if total < best[end]:
                    best[end], cut[end] = total, start
        # The runs are contiguous in by_length: walk back from the last one to the one holding the first item.
        first = by_length.index(chosen[0])
        end = count
        while cut[end] > first:
            end = cut[end]
        return sorted(by_length[cut[end] : end])

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
    # How many of cost_tokens are new tokens (the rest is the prompt); None: not known, and batches are not split
    # by prompt length (BatchLimits.select).
    new_tokens: int | None = None

    def __post_init__(self) -> None:
        # A negative cost would let a batch sneak past max_batch_tokens.
        if self.cost_tokens < 0:
            raise ValueError(f"cost_tokens must not be negative, got {self.cost_tokens}")
        if self.new_tokens is not None and not 0 <= self.new_tokens <= self.cost_tokens:
            raise ValueError(f"new_tokens must be within 0..cost_tokens ({self.cost_tokens}), got {self.new_tokens}")


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
