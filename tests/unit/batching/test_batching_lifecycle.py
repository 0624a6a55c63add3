"""Back-pressure, drain, and submitters that give up: the batcher's life cycle under pressure."""

from __future__ import annotations

import asyncio

import pytest

from models.batching import BatcherClosedError, BatchLimits, Completed, DynamicBatcher

from ._helpers import FakeClock, RecordingModel, item, settle, wait_until


async def test_submit_waits_for_room_when_max_queue_is_reached_and_resumes_once_items_leave() -> None:
    model = RecordingModel()
    batcher = DynamicBatcher(model, BatchLimits(max_batch_size=8, max_wait_ms=0.0, max_queue=2))
    tasks = [asyncio.create_task(batcher.submit(item(str(i)))) for i in range(3)]
    await wait_until(lambda: batcher.queue_depth() == 2, "the queue is full")
    await settle()
    assert batcher.queue_depth() == 2 and not any(t.done() for t in tasks)

    await batcher.start()
    outcomes = await asyncio.gather(*tasks)
    assert all(isinstance(o, Completed) for o in outcomes)
    assert sorted(model.payloads_run()) == ["0", "1", "2"]
    await batcher.drain()


async def test_drain_finishes_in_flight_and_queued_work_and_rejects_new_submits() -> None:
    clock = FakeClock()
    model = RecordingModel()
    # A max_wait that never elapses on the fake clock: only drain can send the queued items.
    batcher = DynamicBatcher(model, BatchLimits(max_batch_size=4, max_wait_ms=60_000.0), clock=clock)
    await batcher.start()
    model.hold()
    in_flight = asyncio.create_task(batcher.submit(item("in-flight")))
    await wait_until(lambda: batcher.queue_depth() == 1, "the first item is queued")
    clock.advance(60.0)
    await wait_until(lambda: len(model.batches) == 1, "the first batch is running")
    queued = [asyncio.create_task(batcher.submit(item(p))) for p in ("q1", "q2")]
    await wait_until(lambda: batcher.queue_depth() == 2, "two items are queued")

    draining = asyncio.create_task(batcher.drain())
    await settle()
    with pytest.raises(BatcherClosedError, match="draining"):
        await batcher.submit(item("too-late"))
    assert not draining.done()

    model.release()
    await asyncio.wait_for(draining, timeout=5.0)
    outcomes = [await in_flight] + [await t for t in queued]
    assert [o.result for o in outcomes if isinstance(o, Completed)] == ["v1:in-flight", "v1:q1", "v1:q2"]
    assert batcher.queue_depth() == 0
    with pytest.raises(BatcherClosedError):
        await batcher.submit(item("after"))
    assert "too-late" not in model.payloads_run()


async def test_drain_rejects_submitters_still_waiting_for_room() -> None:
    model = RecordingModel()
    batcher = DynamicBatcher(model, BatchLimits(max_wait_ms=0.0, max_queue=1))
    admitted = asyncio.create_task(batcher.submit(item("admitted")))
    waiting = asyncio.create_task(batcher.submit(item("waiting")))
    await wait_until(lambda: batcher.queue_depth() == 1, "the queue is full")

    await batcher.drain()
    assert isinstance(await admitted, Completed)
    with pytest.raises(BatcherClosedError):
        await waiting
    assert model.payloads_run() == ["admitted"]


async def test_cancelled_queued_submit_is_withdrawn_and_the_batcher_keeps_serving() -> None:
    model = RecordingModel()
    batcher = DynamicBatcher(model, BatchLimits(max_batch_size=4, max_wait_ms=0.0, max_queue=1))
    await batcher.start()
    model.hold()
    busy = asyncio.create_task(batcher.submit(item("busy")))
    await wait_until(lambda: len(model.batches) == 1, "the model is busy")
    doomed = asyncio.create_task(batcher.submit(item("doomed")))
    await wait_until(lambda: batcher.queue_depth() == 1, "the doomed item is queued")

    doomed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await doomed
    assert batcher.queue_depth() == 0
    model.release()

    # max_queue=1: this only gets in if the cancelled item gave its place back.
    after = await asyncio.wait_for(batcher.submit(item("after")), timeout=5.0)
    assert isinstance(after, Completed) and isinstance(await busy, Completed)
    await batcher.drain()
    assert "doomed" not in model.payloads_run()


async def test_cancelled_in_flight_submit_does_not_break_the_batcher() -> None:
    model = RecordingModel()
    batcher = DynamicBatcher(model, BatchLimits(max_batch_size=4, max_wait_ms=0.0))
    await batcher.start()
    model.hold()
    impatient = asyncio.create_task(batcher.submit(item("impatient")))
    await wait_until(lambda: len(model.batches) == 1, "the model is busy")
    impatient.cancel()
    with pytest.raises(asyncio.CancelledError):
        await impatient
    model.release()

    after = await asyncio.wait_for(batcher.submit(item("after")), timeout=5.0)
    assert isinstance(after, Completed) and after.result == "v1:after"
    await batcher.drain()
