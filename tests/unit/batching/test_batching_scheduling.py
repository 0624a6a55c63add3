"""Which items go next: max_wait, priority then FIFO, one version per batch, fairness across versions, deadlines."""

from __future__ import annotations

import asyncio

import pytest

from models.batching import BatchLimits, Completed, DynamicBatcher, TimedOut

from ._helpers import FakeClock, RecordingModel, item, settle, wait_until


async def test_lone_request_runs_once_max_wait_has_elapsed_on_the_batcher_clock_and_not_before() -> None:
    clock = FakeClock()
    model = RecordingModel()
    batcher = DynamicBatcher(model, BatchLimits(max_batch_size=4, max_wait_ms=20.0), clock=clock)
    await batcher.start()
    task = asyncio.create_task(batcher.submit(item("lonely")))
    await wait_until(lambda: batcher.queue_depth() == 1, "the item is queued")

    await settle()
    clock.advance(0.019)
    await settle()
    assert model.batches == [] and not task.done()

    clock.advance(0.001)
    outcome = await task
    assert isinstance(outcome, Completed)
    assert outcome.batch_size == 1
    assert outcome.queued_ms == pytest.approx(20.0)
    await batcher.drain()


async def test_lone_request_with_the_real_clock_is_not_sent_before_max_wait() -> None:
    model = RecordingModel()
    batcher = DynamicBatcher(model, BatchLimits(max_batch_size=4, max_wait_ms=50.0))
    await batcher.start()
    outcome = await asyncio.wait_for(batcher.submit(item("lonely")), timeout=5.0)
    assert isinstance(outcome, Completed)
    assert outcome.queued_ms >= 50.0
    await batcher.drain()


async def test_higher_priority_goes_first_then_first_in_first_out() -> None:
    model = RecordingModel()
    batcher = DynamicBatcher(model, BatchLimits(max_batch_size=1, max_wait_ms=0.0))
    priorities = {"a": 0, "b": 5, "c": 0, "d": 5, "e": 1}
    tasks = [asyncio.create_task(batcher.submit(item(p, priority=n))) for p, n in priorities.items()]
    await wait_until(lambda: batcher.queue_depth() == 5, "all items are queued")
    await batcher.start()
    await asyncio.gather(*tasks)

    assert model.payloads_run() == ["b", "d", "e", "a", "c"]
    await batcher.drain()


async def test_a_batch_never_mixes_model_versions_and_every_version_is_served() -> None:
    model = RecordingModel()
    batcher = DynamicBatcher(model, BatchLimits(max_batch_size=8, max_wait_ms=0.0))
    versions = ["v1", "v2"] * 4
    tasks = [asyncio.create_task(batcher.submit(item(str(i), version=v))) for i, v in enumerate(versions)]
    await wait_until(lambda: batcher.queue_depth() == 8, "all items are queued")
    await batcher.start()
    outcomes = await asyncio.gather(*tasks)

    assert sorted(model.batches) == [("v1", ["0", "2", "4", "6"]), ("v2", ["1", "3", "5", "7"])]
    for i, (version, outcome) in enumerate(zip(versions, outcomes, strict=True)):
        assert isinstance(outcome, Completed) and outcome.result == f"{version}:{i}"
    await batcher.drain()


async def test_the_version_whose_oldest_item_has_waited_longest_goes_next() -> None:
    model = RecordingModel()
    batcher = DynamicBatcher(model, BatchLimits(max_batch_size=2, max_wait_ms=0.0))
    order = [("A", "a1"), ("A", "a2"), ("A", "a3"), ("A", "a4"), ("B", "b1"), ("A", "a5"), ("A", "a6")]
    tasks = []
    for version, payload in order:
        tasks.append(asyncio.create_task(batcher.submit(item(payload, version=version))))
        await wait_until(lambda: batcher.queue_depth() == len(tasks), f"{payload} is queued")
    await batcher.start()
    await asyncio.gather(*tasks)

    assert model.batches == [("A", ["a1", "a2"]), ("A", ["a3", "a4"]), ("B", ["b1"]), ("A", ["a5", "a6"])]
    await batcher.drain()


async def test_item_whose_deadline_passes_while_queued_times_out_without_waiting_and_never_runs() -> None:
    clock = FakeClock()
    model = RecordingModel()
    batcher = DynamicBatcher(model, BatchLimits(max_batch_size=4, max_wait_ms=0.0), clock=clock)
    await batcher.start()
    model.hold()
    busy = asyncio.create_task(batcher.submit(item("busy")))
    await wait_until(lambda: len(model.batches) == 1, "the model is busy")

    late = asyncio.create_task(batcher.submit(item("late", deadline=clock() + 0.005)))
    await wait_until(lambda: batcher.queue_depth() == 1, "the late item is queued")
    clock.advance(0.010)
    # The model is still busy, so no batch can form: only the sweep can resolve it.
    outcome = await asyncio.wait_for(late, timeout=5.0)
    assert isinstance(outcome, TimedOut) and outcome.queued_ms == pytest.approx(10.0)
    assert batcher.queue_depth() == 0

    model.release()
    assert isinstance(await busy, Completed)
    await batcher.drain()
    assert model.payloads_run() == ["busy"]


async def test_item_submitted_after_its_deadline_times_out_at_once() -> None:
    clock = FakeClock()
    model = RecordingModel()
    batcher = DynamicBatcher(model, BatchLimits(), clock=clock)
    await batcher.start()
    assert await batcher.submit(item("stale", deadline=clock() - 1.0)) == TimedOut(queued_ms=0.0)
    await batcher.drain()
    assert model.batches == []
