"""A failing model call fails its whole batch as data, and the batcher keeps serving; stats reach on_batch."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from models.batching import BatchLimits, BatchStats, Completed, DynamicBatcher, Failed, Outcome

from ._helpers import FakeClock, RecordingModel, item, wait_until


class FlakyModel(RecordingModel):
    """Fails the batch that contains `poison`: by raising, or by returning one result too few."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode

    def __call__(self, version: str, payloads: Sequence[str]) -> list[str]:
        results = super().__call__(version, payloads)
        if "poison" in payloads:
            if self.mode == "raise":
                raise RuntimeError("CUDA out of memory")
            return results[:-1]
        return results


async def _run_poisoned_then_clean(model: FlakyModel) -> tuple[list[Outcome[str]], Outcome[str]]:
    batcher = DynamicBatcher(model, BatchLimits(max_batch_size=3, max_wait_ms=0.0))
    tasks = [asyncio.create_task(batcher.submit(item(p))) for p in ("a", "poison", "b")]
    await wait_until(lambda: batcher.queue_depth() == 3, "the poisoned batch is queued")
    await batcher.start()
    poisoned = list(await asyncio.gather(*tasks))
    after = await batcher.submit(item("c"))
    await batcher.drain()
    return poisoned, after


async def test_exception_in_run_batch_fails_every_item_of_the_batch_and_the_next_batch_still_runs() -> None:
    poisoned, after = await _run_poisoned_then_clean(FlakyModel("raise"))

    for outcome in poisoned:
        assert isinstance(outcome, Failed)
        assert (outcome.error_type, outcome.message, outcome.batch_size) == ("RuntimeError", "CUDA out of memory", 3)
    assert isinstance(after, Completed) and after.result == "v1:c"


async def test_wrong_result_count_fails_every_item_of_the_batch_and_the_next_batch_still_runs() -> None:
    poisoned, after = await _run_poisoned_then_clean(FlakyModel("short"))

    for outcome in poisoned:
        assert isinstance(outcome, Failed)
        assert outcome.error_type == "BatchResultCountError"
        assert "2 results for 3 payloads" in outcome.message
        assert outcome.batch_size == 3
    assert isinstance(after, Completed) and after.result == "v1:c"


async def test_on_batch_receives_stats_for_every_batch_and_a_failing_callback_does_not_stop_the_batcher() -> None:
    clock = FakeClock()
    model = RecordingModel()
    seen: list[BatchStats] = []

    def on_batch(stats: BatchStats) -> None:
        seen.append(stats)
        raise ValueError("metrics backend down")

    batcher = DynamicBatcher(model, BatchLimits(max_batch_size=2, max_wait_ms=0.0), clock=clock, on_batch=on_batch)
    tasks = [asyncio.create_task(batcher.submit(item(p, cost=7))) for p in ("a", "b", "c")]
    await wait_until(lambda: batcher.queue_depth() == 3, "all items are queued")
    clock.advance(0.004)
    await batcher.start()
    outcomes = await asyncio.gather(*tasks)
    await batcher.drain()

    assert all(isinstance(o, Completed) for o in outcomes)
    assert [(s.model_version, s.batch_size, s.batch_tokens, s.queue_depth_after, s.failed) for s in seen] == [
        ("v1", 2, 14, 1, False),
        ("v1", 1, 7, 0, False),
    ]
    assert [s.batch_id for s in seen] == [1, 2]
    assert seen[0].oldest_queued_ms > 3.9
    assert all(s.run_ms >= 0.0 for s in seen)
