"""Under concurrent load (random versions, priorities, deadlines, failures, cancels) every item gets one outcome."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.batching import BatchLimits, Completed, DynamicBatcher, Failed, TimedOut

from ._helpers import item

VERSIONS = ("v1", "v2", "v3")


@dataclass(frozen=True)
class Request:
    version: str
    priority: int
    cost: int
    deadline_s: float | None  # relative to submit; negative: already expired
    cancel_after_s: float | None
    delay_s: float


requests = st.builds(
    Request,
    version=st.sampled_from(VERSIONS),
    priority=st.integers(0, 3),
    cost=st.integers(0, 60),
    deadline_s=st.sampled_from([None, None, None, -1.0, 0.0005, 0.002, 0.01, 10.0]),
    cancel_after_s=st.sampled_from([None, None, None, None, 0.0, 0.001, 0.005]),
    delay_s=st.sampled_from([0.0, 0.0, 0.0005, 0.002]),
)
limits = st.builds(
    BatchLimits,
    max_batch_size=st.integers(1, 6),
    max_batch_tokens=st.integers(10, 100),
    max_wait_ms=st.sampled_from([0.0, 1.0, 3.0]),
    max_queue=st.integers(1, 12),
)


class ChaosModel:
    """Answers `version:payload`, but raises for batches holding a multiple of 7 and drops a result for 11."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, list[str]]] = []

    def __call__(self, version: str, payloads: Sequence[str]) -> list[str]:
        self.batches.append((version, list(payloads)))
        ids = [int(p) for p in payloads]
        if any(i % 7 == 6 for i in ids):
            raise RuntimeError("model fell over")
        results = [f"{version}:{p}" for p in payloads]
        return results[:-1] if any(i % 11 == 10 for i in ids) else results


async def _load(reqs: list[Request], lim: BatchLimits) -> dict[str, int]:
    model = ChaosModel()
    batcher: DynamicBatcher[str, str] = DynamicBatcher(model, lim, sweep_interval_s=0.002)
    await batcher.start()
    loop = asyncio.get_running_loop()

    async def one(i: int, req: Request) -> object:
        await asyncio.sleep(req.delay_s)
        deadline = None if req.deadline_s is None else time.monotonic() + req.deadline_s
        work = item(str(i), version=req.version, priority=req.priority, cost=req.cost, deadline=deadline)
        return await batcher.submit(work)

    tasks = [asyncio.create_task(one(i, r)) for i, r in enumerate(reqs)]
    for task, req in zip(tasks, reqs, strict=True):
        if req.cancel_after_s is not None:
            loop.call_later(req.cancel_after_s, task.cancel)
    outcomes = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=30.0)
    await asyncio.wait_for(batcher.drain(), timeout=30.0)

    assert batcher.queue_depth() == 0
    run_count: dict[str, int] = {}
    batch_of: dict[str, tuple[str, list[str]]] = {}
    for version, payloads in model.batches:
        assert 1 <= len(payloads) <= lim.max_batch_size
        costs = [reqs[int(p)].cost for p in payloads]
        # Every prompt is padded to the longest: the budget bounds size x longest, and lengths stay within the ratio.
        assert len(payloads) == 1 or len(costs) * max(max(costs), 1) <= lim.max_batch_tokens
        assert max(max(costs), 1) <= min(max(c, 1) for c in costs) * lim.max_length_ratio
        for p in payloads:
            assert reqs[int(p)].version == version, "a batch mixed model versions"
            run_count[p] = run_count.get(p, 0) + 1
            batch_of[p] = (version, payloads)
    assert all(n == 1 for n in run_count.values()), "an item was sent to the model twice"

    for i, (req, outcome) in enumerate(zip(reqs, outcomes, strict=True)):
        p = str(i)
        if isinstance(outcome, asyncio.CancelledError):
            assert req.cancel_after_s is not None
        elif isinstance(outcome, Completed):
            assert outcome.result == f"{req.version}:{p}"
            assert outcome.batch_size == len(batch_of[p][1])
        elif isinstance(outcome, Failed):
            _, payloads = batch_of[p]
            assert any(int(q) % 7 == 6 or int(q) % 11 == 10 for q in payloads)
            assert outcome.batch_size == len(payloads)
        elif isinstance(outcome, TimedOut):
            assert req.deadline_s is not None
            assert p not in run_count, "a timed-out item reached the model"
        else:
            raise AssertionError(f"item {i} got no outcome: {outcome!r}")
    return {kind: sum(type(o).__name__ == kind for o in outcomes) for kind in _KINDS}


_KINDS = ("Completed", "Failed", "TimedOut", "CancelledError")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reqs=st.lists(requests, min_size=1, max_size=60), lim=limits)
def test_every_submitted_item_gets_exactly_one_outcome_under_concurrent_load(
    reqs: list[Request], lim: BatchLimits
) -> None:
    asyncio.run(_load(reqs, lim))
