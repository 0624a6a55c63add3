"""Batches close at max_batch_size, before exceeding max_batch_tokens, and an oversized item runs alone."""

from __future__ import annotations

import asyncio

import pytest

from models.batching import BatchLimits, Completed, DynamicBatcher
from schemas.errors import ConfigurationError

from ._helpers import FakeClock, RecordingModel, item, settle, wait_until


async def test_batch_closes_at_max_batch_size_and_the_remainder_waits_for_max_wait() -> None:
    clock = FakeClock()
    model = RecordingModel()
    batcher = DynamicBatcher(model, BatchLimits(max_batch_size=3, max_wait_ms=20.0), clock=clock)
    tasks = [asyncio.create_task(batcher.submit(item(str(i)))) for i in range(7)]
    await wait_until(lambda: batcher.queue_depth() == 7, "all items are queued")
    await batcher.start()

    await wait_until(lambda: len(model.batches) == 2, "two full batches ran")
    await settle()
    assert [ps for _, ps in model.batches] == [["0", "1", "2"], ["3", "4", "5"]]
    assert not tasks[6].done() and batcher.queue_depth() == 1

    clock.advance(0.020)
    outcomes = await asyncio.gather(*tasks)
    assert model.batches[2] == ("v1", ["6"])
    assert all(isinstance(o, Completed) for o in outcomes)
    assert [o.batch_size for o in outcomes if isinstance(o, Completed)] == [3, 3, 3, 3, 3, 3, 1]
    await batcher.drain()


async def test_batch_closes_before_the_next_item_would_exceed_max_batch_tokens() -> None:
    model = RecordingModel()
    batcher = DynamicBatcher(model, BatchLimits(max_batch_size=16, max_batch_tokens=10, max_wait_ms=0.0))
    tasks = [asyncio.create_task(batcher.submit(item(str(i), cost=4))) for i in range(5)]
    await wait_until(lambda: batcher.queue_depth() == 5, "all items are queued")
    await batcher.start()
    outcomes = await asyncio.gather(*tasks)

    assert [ps for _, ps in model.batches] == [["0", "1"], ["2", "3"], ["4"]]
    assert all(isinstance(o, Completed) for o in outcomes)
    await batcher.drain()


async def test_item_larger_than_max_batch_tokens_runs_alone_instead_of_starving() -> None:
    model = RecordingModel()
    batcher = DynamicBatcher(model, BatchLimits(max_batch_tokens=10, max_wait_ms=0.0))
    costs = {"small-1": 3, "huge": 50, "small-2": 3}
    tasks = [asyncio.create_task(batcher.submit(item(p, cost=c))) for p, c in costs.items()]
    await wait_until(lambda: batcher.queue_depth() == 3, "all items are queued")
    await batcher.start()
    outcomes = await asyncio.gather(*tasks)

    assert [ps for _, ps in model.batches] == [["small-1"], ["huge"], ["small-2"]]
    huge = outcomes[1]
    assert isinstance(huge, Completed) and huge.result == "v1:huge" and huge.batch_size == 1
    await batcher.drain()


async def test_batch_that_reaches_max_batch_size_runs_without_waiting_for_more_company() -> None:
    clock = FakeClock()
    model = RecordingModel()
    batcher = DynamicBatcher(model, BatchLimits(max_batch_size=2, max_wait_ms=20.0), clock=clock)
    await batcher.start()
    outcomes = await asyncio.wait_for(asyncio.gather(batcher.submit(item("a")), batcher.submit(item("b"))), 5.0)
    assert [o.batch_size for o in outcomes if isinstance(o, Completed)] == [2, 2]
    await batcher.drain()


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_batch_size", 0), ("max_batch_tokens", 0), ("max_wait_ms", -1), ("max_queue", 0)],
)
def test_invalid_limits_fail_at_construction_naming_the_setting(field: str, value: int) -> None:
    with pytest.raises(ConfigurationError, match=field):
        BatchLimits(**{field: value})


@pytest.mark.parametrize(
    ("costs", "taken"),
    [
        ([4, 4, 4, 4], 2),  # 4 + 4 fit in 10, a third would not
        ([30, 1, 1], 1),  # oversized alone still forms a batch of one
        ([1, 30, 1], 1),  # stops at the first misfit rather than skipping to the small one behind it
        ([1] * 20, 3),  # size limit
        ([], 0),
    ],
)
def test_leading_fit_is_the_greedy_rule_batches_close_by(costs: list[int], taken: int) -> None:
    assert BatchLimits(max_batch_size=3, max_batch_tokens=10).leading_fit(costs) == taken
