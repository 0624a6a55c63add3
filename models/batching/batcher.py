"""The dynamic batcher: groups queued requests into model-sized batches and runs them one at a time off the loop."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Generic

from models.batching.queue import Candidate, Pending, PendingQueue
from models.batching.types import (
    BatcherClosedError,
    BatchLimits,
    BatchResultCountError,
    BatchStats,
    Completed,
    Failed,
    Outcome,
    P,
    R,
    TimedOut,
    WorkItem,
)

logger = logging.getLogger(__name__)

# Upper bound on how long the scheduler sleeps while anything is queued. Wake-ups are otherwise computed from
# the next deadline / max_wait, so this only matters when the clock cannot be trusted to match real time
# (an injected clock, a clock jump) and when the model is busy: expired items still resolve promptly.
DEFAULT_SWEEP_INTERVAL_S = 0.01


def _ms(seconds: float) -> float:
    return max(0.0, seconds * 1000.0)


class DynamicBatcher(Generic[P, R]):
    """Dynamic batching for a model that takes a list of payloads of one model version.

    Every submitted item gets exactly one outcome: Completed, TimedOut or Failed. One batch runs at a time
    (the model is the bottleneck); while it runs, the queue keeps filling and the next batch is chosen the
    moment the model is free, from whatever is queued then (so a late high-priority item still gets in).

    How a batch forms: per model version, items in priority order (then FIFO) are taken until the next one
    would break max_batch_size or max_batch_tokens. A version's batch is ready when that stop happened (or the
    batch is at a limit already), when its oldest item has been queued max_wait_ms, or while draining. Of the
    ready versions, the one whose batch holds the oldest item goes next, so a busy version cannot starve a
    quiet one. Within a version priority is strict: sustained high-priority load can starve low priority.
    Deadlines are swept before every batch is chosen and whenever the scheduler wakes: at the next deadline
    or max_wait, at a submit or batch completion, and at least every `sweep_interval_s` while items wait.
    """

    def __init__(
        self,
        run_batch: Callable[[str, Sequence[P]], Sequence[R]],
        limits: BatchLimits,
        *,
        executor: Executor | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_batch: Callable[[BatchStats], None] | None = None,
        sweep_interval_s: float = DEFAULT_SWEEP_INTERVAL_S,
    ) -> None:
        if sweep_interval_s <= 0:
            raise ValueError(f"sweep_interval_s must be positive, got {sweep_interval_s}")
        self._run_batch = run_batch
        self._limits = limits
        self._owns_executor = executor is None
        # One worker: batches are serialised anyway, and CTranslate2 parallelises inside a batch.
        self._executor = executor or ThreadPoolExecutor(max_workers=1, thread_name_prefix="sluice-batcher")
        self._clock = clock
        self._on_batch = on_batch
        self._sweep_interval_s = sweep_interval_s
        self._queue: PendingQueue[P, R] = PendingQueue(limits)
        self._room = asyncio.Semaphore(limits.max_queue)
        self._wake = asyncio.Event()
        self._seq = itertools.count()
        self._batch_ids = itertools.count(1)
        self._closing = False
        self._scheduler: asyncio.Task[None] | None = None
        self._in_flight: asyncio.Task[None] | None = None

    @property
    def limits(self) -> BatchLimits:
        return self._limits

    def queue_depth(self) -> int:
        """Items queued for the model: not those in flight, nor submitters still waiting for room."""
        return len(self._queue)

    async def start(self) -> None:
        """Start scheduling; items submitted before start() wait in the queue until then."""
        if self._closing:
            raise BatcherClosedError("the batcher is draining or drained and cannot be started again")
        if self._scheduler is None:
            self._scheduler = asyncio.create_task(self._schedule(), name="sluice-batcher-scheduler")

    async def drain(self) -> None:
        """Stop accepting work, then finish everything queued and in flight; safe to call more than once.

        Queued items no longer wait for company (max_wait is ignored) but their deadlines still apply.
        """
        self._closing = True
        if self._scheduler is None:
            # Work queued before start() is still owed an outcome.
            self._scheduler = asyncio.create_task(self._schedule(), name="sluice-batcher-scheduler")
        self._wake.set()
        await asyncio.shield(self._scheduler)
        if self._owns_executor:
            self._executor.shutdown(wait=False)

    async def submit(self, item: WorkItem[P]) -> Outcome[R]:
        """Queue an item and await its outcome; waits for room while the queue is full (back-pressure).

        Raises BatcherClosedError once drain() has begun, including for submitters still waiting for room.
        Cancelling the caller withdraws a still-queued item; one already in flight runs and its result is dropped.
        """
        if self._closing:
            raise BatcherClosedError("the batcher is draining and accepts no new work")
        submitted_at = self._clock()
        if item.deadline is not None and item.deadline <= submitted_at:
            return TimedOut(queued_ms=0.0)
        await self._room.acquire()
        if self._closing:
            self._room.release()
            raise BatcherClosedError("the batcher began draining while this item waited for room")
        now = self._clock()
        if item.deadline is not None and item.deadline <= now:
            # It expired while waiting for room: no point queueing it.
            self._room.release()
            return TimedOut(queued_ms=_ms(now - submitted_at))
        future: asyncio.Future[Outcome[R]] = asyncio.get_running_loop().create_future()
        entry = Pending(item=item, seq=next(self._seq), submitted_at=submitted_at, enqueued_at=now, future=future)
        self._queue.add(entry)
        self._wake.set()
        try:
            return await future
        except asyncio.CancelledError:
            if self._queue.remove(entry):
                self._room.release()
            raise

    async def _schedule(self) -> None:
        try:
            while True:
                self._wake.clear()
                now = self._clock()
                self._expire(now)
                if self._in_flight is None:
                    candidate = self._queue.next_batch(now, flush=self._closing)
                    if candidate is not None:
                        self._dispatch(candidate, now)
                if self._closing and self._in_flight is None and not self._queue:
                    return
                timeout = self._sleep_for(now)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
        except BaseException as exc:
            # A dead scheduler must not leave submitters awaiting forever. Cancellation (loop shutdown without
            # drain()) is a choice of the owner, anything else is a bug worth a traceback.
            if isinstance(exc, asyncio.CancelledError):
                logger.warning("batcher scheduler cancelled before drain(); failing every queued item")
            else:
                logger.exception("batcher scheduler crashed; failing every queued item")
            self._closing = True
            entries = self._queue.drain_all()
            for _ in entries:
                self._room.release()
            self._resolve_failed(entries, "BatcherStoppedError", f"batcher scheduler stopped: {exc!r}")
            raise

    def _sleep_for(self, now: float) -> float | None:
        if not self._queue:
            # Nothing can expire or close; the next submit or batch completion wakes us.
            return None
        due = self._queue.next_due(include_batches=self._in_flight is None)
        if due is None:
            return self._sweep_interval_s
        return min(max(0.0, due - now), self._sweep_interval_s)

    def _expire(self, now: float) -> None:
        for entry in self._queue.expire(now):
            self._room.release()
            if not entry.future.done():
                entry.future.set_result(TimedOut(queued_ms=_ms(now - entry.submitted_at)))

    def _dispatch(self, candidate: Candidate[P, R], now: float) -> None:
        self._queue.take(candidate)
        for _ in candidate.entries:
            self._room.release()
        batch_id = next(self._batch_ids)
        task = asyncio.create_task(self._run(candidate, batch_id, now, len(self._queue)), name=f"batch-{batch_id}")
        self._in_flight = task
        task.add_done_callback(self._on_run_done)

    def _on_run_done(self, task: asyncio.Task[None]) -> None:
        self._in_flight = None
        self._wake.set()
        if not task.cancelled() and task.exception() is not None:
            logger.error("batch task crashed", exc_info=task.exception())

    async def _run(self, candidate: Candidate[P, R], batch_id: int, dispatched_at: float, depth_after: int) -> None:
        entries = candidate.entries
        size = len(entries)
        payloads = [e.item.payload for e in entries]
        loop = asyncio.get_running_loop()
        started = self._clock()
        failed = False
        try:
            raw = await loop.run_in_executor(self._executor, self._run_batch, candidate.model_version, payloads)
            results = list(raw)
            if len(results) != size:
                raise BatchResultCountError(f"run_batch returned {len(results)} results for {size} payloads")
        except asyncio.CancelledError:
            self._resolve_failed(entries, "BatcherStoppedError", "the batch was cancelled before it finished")
            raise
        except Exception as exc:
            # Errors are data: the whole batch fails, its submitters learn why, and the batcher carries on.
            failed = True
            logger.warning("batch %d of %s failed: %s: %s", batch_id, candidate.model_version, type(exc).__name__, exc)
            self._resolve_failed(entries, type(exc).__name__, str(exc), dispatched_at=dispatched_at)
        else:
            for entry, result in zip(entries, results, strict=True):
                if not entry.future.done():
                    entry.future.set_result(
                        Completed(
                            result=result,
                            queued_ms=_ms(dispatched_at - entry.submitted_at),
                            batch_size=size,
                            batch_id=batch_id,
                        )
                    )
        run_ms = _ms(self._clock() - started)
        if self._on_batch is not None:
            stats = BatchStats(
                model_version=candidate.model_version,
                batch_id=batch_id,
                batch_size=size,
                batch_tokens=candidate.tokens,
                queue_depth_after=depth_after,
                oldest_queued_ms=_ms(dispatched_at - candidate.oldest.submitted_at),
                run_ms=run_ms,
                failed=failed,
            )
            try:
                self._on_batch(stats)
            except Exception:
                # Metrics must never take the inference path down.
                logger.exception("on_batch callback failed")

    def _resolve_failed(
        self,
        entries: Sequence[Pending[P, R]],
        error_type: str,
        message: str,
        *,
        dispatched_at: float | None = None,
    ) -> None:
        at = self._clock() if dispatched_at is None else dispatched_at
        for entry in entries:
            if not entry.future.done():
                entry.future.set_result(
                    Failed(
                        error_type=error_type,
                        message=message,
                        queued_ms=_ms(at - entry.submitted_at),
                        batch_size=len(entries),
                    )
                )
