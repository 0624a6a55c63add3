"""The one batch runner every flow uses: a stage in a thread, failures dead-lettered, outputs tied to inputs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, cast

import faust
import structlog

from agents.core import metrics
from agents.core.audit import AuditEmitter
from agents.core.dead_letters import DeadLetterWriter, StageFailure
from agents.core.messages import SourcePosition
from agents.core.restart import UNAVAILABLE, exit_for_restart
from agents.core.stage import R, Stage, StageOutcome, unexpected_failure
from agents.core.stalls import StallJournal, stalled_twice
from agents.core.transactions import attribute_to, in_flight
from agents.core.watchdog import BatchWatchdog
from schemas.errors import RetriableError

log = structlog.get_logger(__name__)

RETRY_DELAYS_S = (1.0, 2.0, 4.0, 8.0)


def micro_batches(stream: faust.StreamT[bytes]) -> faust.Stream[bytes]:
    """Faust's StreamT protocol lacks take_events, which every concrete Stream has."""
    return cast(faust.Stream[bytes], stream)


def batch_span(positions: Sequence[SourcePosition]) -> dict[str, Any]:
    """topic → partition → [first, last] offsets of a batch: enough to find every message it held."""
    span: dict[str, dict[int, list[int]]] = {}
    for p in positions:
        offsets = span.setdefault(p.topic, {}).setdefault(p.partition, [p.offset, p.offset])
        offsets[0], offsets[1] = min(offsets[0], p.offset), max(offsets[1], p.offset)
    return {"batch": len(positions), "offsets": {t: {str(k): v for k, v in parts.items()} for t, parts in span.items()}}


def _where(position: SourcePosition) -> tuple[str, int, int]:
    return position.topic, position.partition, position.offset


def position_of(event: faust.EventT[bytes]) -> SourcePosition:
    message = event.message
    # Faust gives the record's timestamp in seconds (a float); SourcePosition keeps milliseconds.
    seconds = getattr(message, "timestamp", None)  # test doubles of a Faust message may leave it out
    timestamp_ms = round(seconds * 1000) if isinstance(seconds, int | float) and seconds > 0 else None
    return SourcePosition(message.topic, message.partition, message.offset, message.key, message.value, timestamp_ms)


@dataclass
class BatchRunner:
    """Runs a stage on a micro-batch in its own thread, dead-letters failures, and never lets an error out.

    Infrastructure errors (RetriableError) are retried with back-off; if they persist the worker exits without
    acknowledging the batch, so Kafka redelivers it to the restarted worker and nothing is lost.

    With a watchdog, a batch that runs past its time budget makes the worker exit (agents/core/watchdog.py); with
    a stall journal, a batch the previous run died in is run record by record, and a record that was running
    alone when a worker died is dead-lettered as having stalled a worker twice (agents/core/stalls.py).
    """

    dead_letters: DeadLetterWriter
    audit: AuditEmitter
    journal: StallJournal | None = None
    watchdog: BatchWatchdog | None = None

    async def run(
        self,
        stage: Stage[R],
        executor: ThreadPoolExecutor,
        events: Sequence[faust.EventT[bytes]],
        on_result: Callable[[R], Awaitable[None]],
    ) -> None:
        in_flight.begin(events)
        positions = [position_of(event) for event in events]
        by_position = {_where(p): event for p, event in zip(positions, events, strict=True)}
        # One canonical log line per batch, with where it came from (structlog contextvars).
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(stage=stage.name, **batch_span(positions))
        started = time.perf_counter()
        outcome = await self._run_guarded(stage, executor, positions)
        try:
            # Each output belongs to its own input: under exactly-once it commits with that input's offset.
            for result in outcome.results:
                attribute_to(by_position[_where(result.position)])
                await on_result(result)
            for failure in outcome.failures:
                attribute_to(by_position[_where(failure.position)])
                await self.dead_letter(failure)
        except Exception as exc:  # producing failed: the broker is in trouble, not the record
            exit_for_restart(stage.name, UNAVAILABLE, error=exc)
        for event in events:  # every input has its outcome: its offset may commit
            in_flight.finish(event)
        elapsed = time.perf_counter() - started
        metrics.BATCH_SECONDS.labels(stage.name).observe(elapsed)
        metrics.BATCH_SIZE.labels(stage.name).observe(len(events))
        metrics.RECORDS.labels(stage.name).inc(len(outcome.results))
        log.info(
            "batch_processed",
            records=len(outcome.results),
            dead_lettered=len(outcome.failures),
            duration_ms=round(elapsed * 1000, 1),
        )

    async def _run_guarded(
        self, stage: Stage[R], executor: ThreadPoolExecutor, positions: list[SourcePosition]
    ) -> StageOutcome[R]:
        """The stage on the batch, under the stall journal: convicted records dead-lettered unrun, a batch with
        a suspect in it run one record at a time, every run marked in the journal while it lasts."""
        if self.journal is None:
            return await self._run_stage(stage, executor, positions)
        triage = self.journal.triage(stage.name, positions)
        outcome: StageOutcome[R] = StageOutcome(failures=[stalled_twice(p, stage.name) for p in triage.convicted])
        if triage.alone:
            log.warning("running_batch_record_by_record", stage=stage.name, records=len(triage.to_run))
        groups = [[p] for p in triage.to_run] if triage.alone else [triage.to_run] if triage.to_run else []
        for group in groups:
            with self.journal.running(stage.name, group, alone=triage.alone):
                part = await self._run_stage(stage, executor, group)
            outcome.results += part.results
            outcome.failures += part.failures
        return outcome

    async def _run_stage(
        self, stage: Stage[R], executor: ThreadPoolExecutor, positions: list[SourcePosition]
    ) -> StageOutcome[R]:
        loop = asyncio.get_running_loop()
        for attempt, delay in enumerate((*RETRY_DELAYS_S, None), start=1):
            try:
                with self.watchdog.watching(stage.name) if self.watchdog else nullcontext():
                    return await loop.run_in_executor(executor, stage.run, positions)
            except RetriableError as exc:
                if delay is None:
                    if self.journal is not None:  # the broker or the store is down, not this batch's fault
                        self.journal.forget_running()
                    exit_for_restart(stage.name, UNAVAILABLE, error=exc)
                log.warning(
                    "stage_retry",
                    stage=stage.name,
                    attempt=attempt,
                    error_type=type(exc).__name__,
                    delay_s=delay,
                )
                await asyncio.sleep(delay)
            except Exception as exc:  # a bug outside the per-record guards: dead-letter the whole batch
                log.exception("stage_failed", stage=stage.name, batch=len(positions))
                return StageOutcome(failures=[unexpected_failure(p, stage.name, exc) for p in positions])
        raise AssertionError("unreachable")  # pragma: no cover

    async def dead_letter(self, failure: StageFailure) -> None:
        letter = await self.dead_letters.write(failure)
        position = failure.position
        log.warning(
            "dead_lettered",
            topic=position.topic,
            partition=position.partition,
            offset=position.offset,
            stage=failure.stage,
            error_type=failure.error_type,
        )
        metrics.DEAD_LETTERS.labels(failure.stage, failure.error_type).inc()
        await self.audit.emit(
            "record.dead_lettered",
            stage=failure.stage,
            subject_id=f"{position.topic}:{position.partition}:{position.offset}",
            tenant=None,
            source_topic=position.topic,
            partition=position.partition,
            offset=position.offset,
            details={
                "error_type": failure.error_type,
                "dead_letter_topic": self.dead_letters.topic,
                "original_sha256": letter.original_sha256,
            },
        )
