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


# CTranslate2 prefills a batch only up to its shortest prompt: the rest of every longer prompt costs a decoding step
# of the whole batch per token. Measured shapes (models/batching/types.py step_costs): six prompts of 258-349 tokens
# with 24 new took 9.5 s together, the same six all 349 long 3.7 s, one of 349 alone 1.0 s.
MEASURED_PROMPTS = [349, 258, 348, 337, 278, 333]


def test_a_batch_of_very_different_lengths_is_split_and_the_first_item_keeps_its_place() -> None:
    limits = BatchLimits(max_batch_size=32, max_batch_tokens=16_384)
    chosen, closed = limits.select([p + 24 for p in MEASURED_PROMPTS], [24] * len(MEASURED_PROMPTS))
    assert 0 in chosen and closed  # the first in line always goes; the rest run right after, no waiting
    lengths = [MEASURED_PROMPTS[i] for i in chosen]
    assert 258 not in lengths and max(lengths) - min(lengths) <= 20, lengths
    # Without new-token budgets (callers that do not say) the batch is the ratio rule's alone: everything within 2x.
    assert limits.select([p + 24 for p in MEASURED_PROMPTS]) == ([0, 1, 2, 3, 4, 5], False)


def test_prompts_of_one_length_stay_one_batch_that_waits_for_company() -> None:
    limits = BatchLimits(max_batch_size=32, max_batch_tokens=16_384)
    assert limits.select([324] * 10, [24] * 10) == (list(range(10)), False)


def test_the_cost_model_ranks_the_measured_batches_as_they_ran() -> None:
    limits = BatchLimits()
    as_is = limits.batch_cost(MEASURED_PROMPTS, 24)
    same_length = limits.batch_cost([349] * 6, 24)
    alone = limits.batch_cost([349], 24)
    # 9.5 s, 3.7 s and 1.0 s measured; 0.7 ms per prompt token prefilled.
    assert as_is * 0.7e-3 == pytest.approx(9.5, rel=0.15)
    assert same_length * 0.7e-3 == pytest.approx(3.7, rel=0.15)
    assert alone * 0.7e-3 == pytest.approx(1.0, rel=0.15)


def test_step_cost_interpolates_between_measured_sizes_and_extends_the_last_slope() -> None:
    limits = BatchLimits(step_costs=((1, 10.0), (5, 50.0), (9, 70.0)))
    assert [limits.step_cost(n) for n in (1, 3, 5, 7, 9, 13)] == [10.0, 30.0, 50.0, 60.0, 70.0, 90.0]


@pytest.mark.parametrize("step_costs", [(), ((4, 1.0), (2, 1.0)), ((0, 1.0),), ((1, -1.0),), ((1, 1.0), (1, 2.0))])
def test_step_costs_must_be_increasing_sizes_with_non_negative_costs(step_costs: tuple[tuple[int, float], ...]) -> None:
    with pytest.raises(ConfigurationError, match="step_costs"):
        BatchLimits(step_costs=step_costs)


@pytest.mark.parametrize("new_tokens", [-1, 11])
def test_a_work_items_new_tokens_lie_within_its_cost(new_tokens: int) -> None:
    from models.batching import WorkItem

    with pytest.raises(ValueError, match="new_tokens"):
        WorkItem(payload="p", model_version="v", cost_tokens=10, new_tokens=new_tokens)
