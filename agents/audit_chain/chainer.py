"""The audit chainer: the one writer of audit.events.v1, sealing each draft into its partition's hash chain.

Workers emit unsealed drafts to audit.pending.v1 inside their own transactions. Partition p of the drafts is
sealed into partition p of audit.events.v1 by whichever chainer owns it (a consumer group guarantees one), so
each chain has a single writer. The head of a chain (next seq, last hash) lives in memory and is re-read from
the tail of audit.events.v1 whenever a partition is (re)assigned. Under exactly-once the sealed events and the
draft offsets commit in one transaction, so a restart continues the chain exactly where the committed part ends:
no gap, no duplicate. Under at-least-once a crash may seal a draft twice; the chain stays intact, the event
repeats (same event_id).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import faust
import structlog
from pydantic import ValidationError

from agents.audit_chain.chain import ChainHead, canonical_json, checkpoint_draft, seal
from agents.core import metrics
from agents.core.dead_letters import StageFailure
from agents.core.messages import SourcePosition
from agents.core.restart import UNAVAILABLE, exit_for_restart
from agents.core.runner import BatchRunner, position_of
from agents.core.transactions import attribute_to, in_flight
from schemas.records import AuditEvent
from topics.specs import AUDIT_EVENTS, AUDIT_PENDING

log = structlog.get_logger(__name__)

STAGE = "audit"
# Asks the chainer that owns a partition of audit.pending.v1 for a checkpoint, if one is due. Without it the
# events after a partition's last checkpoint stay unauthenticated for as long as the partition is idle (a
# truncated tail is then undetectable). The chainer sends ticks to itself from a timer; it does not write the
# checkpoint from the timer, because such a write belongs to no input's transaction and could land between the
# events of a transaction still open. Sealed for a tick, the checkpoint commits like any sealed draft.
CHECKPOINT_TICK = b'{"sluice": "checkpoint-tick"}'
TICK_CHECK_EVERY_S = 5.0
ReadHead = Callable[[int], dict[str, Any] | None]


@dataclass
class AuditChainer:
    """Seals drafts; `read_head(p)` returns the last committed event of audit.events.v1[p] (None when empty)."""

    runner: BatchRunner  # dead letters for drafts that are not audit events
    read_head: ReadHead
    signing_key_id: str
    signing_key: bytes
    checkpoint_every: int
    checkpoint_interval_s: float
    max_message_bytes: int = 256_000
    heads: dict[int, ChainHead] = field(default_factory=dict)
    ticked_at: dict[int, float] = field(default_factory=dict)

    def register(self, app: faust.App) -> Any:
        drafts = app.topic(AUDIT_PENDING.name, key_serializer="raw", value_serializer="raw")
        chain = app.topic(AUDIT_EVENTS.name, key_serializer="raw", value_serializer="raw")

        @app.agent(drafts, name="seal_audit_events")
        async def seal_audit_events(stream: faust.StreamT[bytes]) -> None:
            async for event in stream.events():
                in_flight.begin([event])
                try:
                    await self.seal_one(event, chain)
                except Exception as exc:  # producing or reading the chain failed: the broker is in trouble
                    exit_for_restart(STAGE, UNAVAILABLE, error=exc)
                in_flight.finish(event)

        @app.timer(interval=min(TICK_CHECK_EVERY_S, self.checkpoint_interval_s))  # type: ignore[untyped-decorator]
        async def tick_idle_chains() -> None:
            owned = [tp.partition for tp in app.consumer.assignment() if tp.topic == AUDIT_PENDING.name]
            for partition in self.ticks_due(owned, time.monotonic()):
                await drafts.send(value=CHECKPOINT_TICK, partition=partition)

        @app.on_partitions_revoked.connect  # type: ignore[arg-type]  # faust's signal signature is too narrow
        async def forget_heads(sender: Any, revoked: set[Any], **_: Any) -> None:
            # Another chainer may extend these chains now: re-read the head if the partition comes back.
            for tp in revoked:
                if tp.topic == AUDIT_PENDING.name:
                    self.heads.pop(tp.partition, None)

        return seal_audit_events

    async def seal_one(self, event: faust.EventT[bytes], chain: faust.TopicT) -> None:
        attribute_to(event)
        position = position_of(event)
        partition = position.partition
        if position.value == CHECKPOINT_TICK:
            head = await self._head(partition)
            for checkpoint in self.checkpoint_if_due(partition, head, time.monotonic(), events=0):
                await chain.send(key=position.key, value=canonical_json(checkpoint), partition=partition)
            return
        draft = parse_draft(position, self.max_message_bytes)
        if isinstance(draft, StageFailure):
            await self.runner.dead_letter(draft)
            return
        head = await self._head(partition)
        for sealed in self.seal_draft(partition, head, draft):
            await chain.send(key=position.key, value=canonical_json(sealed), partition=partition)
        metrics.AUDIT_SEALED.labels(str(partition)).inc()

    def seal_draft(self, partition: int, head: ChainHead, draft: dict[str, Any]) -> list[dict[str, Any]]:
        """The draft sealed, followed by a checkpoint when one is due."""
        sealed = seal(draft, head)
        return [sealed, *self.checkpoint_if_due(partition, head, time.monotonic(), events=self.checkpoint_every)]

    def checkpoint_if_due(self, partition: int, head: ChainHead, now: float, *, events: int) -> list[dict[str, Any]]:
        """A sealed checkpoint when `events` events (0: any) or the interval have passed since the last; else []."""
        if head.since_checkpoint == 0:
            return []
        due_by_count = events > 0 and head.since_checkpoint >= events
        if not due_by_count and now - head.checkpointed_at < self.checkpoint_interval_s:
            return []
        checkpoint = checkpoint_draft(partition, head, self.signing_key_id, self.signing_key)
        checkpoint["event_id"] = f"checkpoint-{partition}-{head.next_seq}"
        sealed = seal(checkpoint, head)
        head.checkpointed_seq = head.next_seq - 1
        head.checkpointed_at = now
        return [sealed]

    def ticks_due(self, owned: Iterable[int], now: float) -> list[int]:
        """Owned partitions to tick: events after the last checkpoint for an interval, or a head not read yet."""
        due = []
        for partition in owned:
            head = self.heads.get(partition)
            if head is not None and (
                head.since_checkpoint == 0 or now - head.checkpointed_at < self.checkpoint_interval_s
            ):
                continue
            if now - self.ticked_at.get(partition, -math.inf) < self.checkpoint_interval_s:
                continue  # one tick per interval: the last one may still be on its way
            self.ticked_at[partition] = now
            due.append(partition)
        return due

    async def _head(self, partition: int) -> ChainHead:
        head = self.heads.get(partition)
        if head is None:
            last = await asyncio.to_thread(self.read_head, partition)
            head = ChainHead.after(last, now=time.monotonic()) if last else ChainHead(checkpointed_at=time.monotonic())
            self.heads[partition] = head
            log.info("audit_chain_resumed", partition=partition, next_seq=head.next_seq)
        return head


def parse_draft(position: SourcePosition, max_bytes: int = 256_000) -> dict[str, Any] | StageFailure:
    """A draft as JSON-native fields, or why it is not an audit event (it is then dead-lettered)."""
    size = len(position.value or b"")
    if size > max_bytes:
        return StageFailure(position, "OversizedPayloadError", f"draft is {size} bytes, above {max_bytes}", STAGE)
    try:
        event = AuditEvent.model_validate_json(position.value or b"")
        fields: dict[str, Any] = json.loads(event.model_dump_json())
        canonical_json(fields)  # what sealing hashes: a lone surrogate, say, cannot be encoded
    except ValidationError as exc:
        kinds = sorted({str(error["type"]) for error in exc.errors()})[:5]
        return StageFailure(position, "SchemaViolationError", f"not an audit event ({', '.join(kinds)})", STAGE)
    except (ValueError, RecursionError) as exc:  # UnicodeError is a ValueError
        return StageFailure(position, type(exc).__name__, "not an audit event (unparseable)", STAGE)
    return fields


def read_chain_head(bootstrap: str, options: dict[str, str]) -> ReadHead:
    """read_head for the chainer: the last committed event of a partition of audit.events.v1."""
    from agents.core.kafka_io import last_record

    def read(partition: int) -> dict[str, Any] | None:
        record = last_record(bootstrap, AUDIT_EVENTS.name, partition, options=options)
        if record is None or record.value is None:
            return None
        value = json.loads(record.value)
        if not isinstance(value, dict) or not {"seq", "hash"} <= set(value):
            # A topic written before the chain existed (an upgrade): the chain starts here, from genesis.
            log.warning("audit_chain_starts_after_unchained_events", partition=partition, offset=record.offset)
            return None
        return value

    return read
