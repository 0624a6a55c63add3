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

    # The two small ones go together (the huge one would pad them to 50 tokens each), then the huge one alone.
    assert [ps for _, ps in model.batches] == [["small-1", "small-2"], ["huge"]]
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
    [("max_batch_size", 0), ("max_batch_tokens", 0), ("max_wait_ms", -1), ("max_queue", 0), ("max_length_ratio", 0.5)],
)
def test_invalid_limits_fail_at_construction_naming_the_setting(field: str, value: int) -> None:
    with pytest.raises(ConfigurationError, match=field):
        BatchLimits(**{field: value})


@pytest.mark.parametrize(
    ("costs", "chosen", "closed"),
    [
        ([4, 4, 4, 4], [0, 1], True),  # padded 2 x 4 fits in 10, 3 x 4 would not: closed
        ([30, 1, 1], [0], True),  # oversized alone still forms a batch, closed at once; the small ones do not join it
        ([1, 30, 1], [0, 2], False),  # the long one is passed over, not padded into: it waits for its own batch
        ([3, 5, 2], [0, 1], True),  # 5 after 3 is within 2x, 3 x 5 = 15 > 10 for the 2: closed there
        ([1] * 20, [0, 1, 2], True),  # size limit
        ([0, 0], [0, 1], False),  # zero costs count as one token
        ([], [], False),
    ],
)
def test_select_groups_items_of_similar_length_within_the_padded_budget(
    costs: list[int], chosen: list[int], closed: bool
) -> None:
    limits = BatchLimits(max_batch_size=3, max_batch_tokens=10, max_length_ratio=2.0)
    assert limits.select(costs) == (chosen, closed)


def test_padding_is_bounded_by_the_length_ratio() -> None:
    limits = BatchLimits(max_batch_size=64, max_batch_tokens=100_000, max_length_ratio=1.5)
    costs = [300, 900, 320, 410, 880, 1000, 450, 310]
    chosen, _ = limits.select(costs)
    assert chosen == [0, 2, 3, 6, 7]  # within 300 x 1.5 = 450; the 880..1000 ones wait for a batch of their own
    assert limits.padded_tokens(costs[i] for i in chosen) == 5 * 450
    assert limits.select([costs[i] for i in (1, 4, 5)]) == ([0, 1, 2], False)
