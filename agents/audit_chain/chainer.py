"""The audit chainer: the one writer of audit.events.v1, sealing each draft into its partition's hash chain.

Workers emit unsealed drafts to audit.pending.v1 inside their own transactions. Partition p of the drafts is
sealed into partition p of audit.events.v1 by whichever chainer owns it (a consumer group guarantees one), so
each chain has a single writer. The head of a chain (next seq, last hash, Merkle tree) lives in memory and is
loaded again whenever a partition is (re)assigned: checked back to the last checkpoint it can verify, so that
nothing someone else appended is ever signed over (agents/audit_chain/resume.py). Under exactly-once the sealed
events and the draft offsets commit in one transaction, so a restart continues the chain exactly where the
committed part ends: no gap, no duplicate. Under at-least-once a crash may seal a draft twice; the chain stays
intact, the event repeats (same event_id).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import faust
import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from agents.audit_chain.chain import TAIL_REJECTED_EVENT, ChainHead, Sealer, canonical_json, seal
from agents.audit_chain.checkpoints import checkpoint_draft
from agents.audit_chain.resume import ChainRefusedError, Resumed, as_record, genesis_head, resume_chain
from agents.core import metrics
from agents.core.audit_keys import CheckpointKeys
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


class ChainReader(Protocol):
    """Reads audit.events.v1 for the chainer: a partition's watermarks, and its committed records from an offset."""

    def bounds(self, partition: int) -> tuple[int, int]: ...

    def records(self, partition: int, start: int) -> list[tuple[int, bytes | None]]: ...


@dataclass
class AuditChainer:
    """Seals drafts into the chains of audit.events.v1 and signs their checkpoints with `signing_key_id`.

    `private_keys` holds every signing key configured (a retired one checks the seals of events written before a
    rotation); `keys` verifies the checkpoints already on the topic.
    """

    runner: BatchRunner  # dead letters for drafts that are not audit events
    reader: ChainReader
    signing_key_id: str
    private_keys: dict[str, Ed25519PrivateKey]
    keys: CheckpointKeys
    checkpoint_every: int
    checkpoint_interval_s: float
    max_message_bytes: int = 256_000
    accept_legacy_tail: bool = False
    topic: str = AUDIT_EVENTS.name
    heads: dict[int, ChainHead] = field(default_factory=dict)
    ticked_at: dict[int, float] = field(default_factory=dict)
    sealers: dict[str, Sealer] = field(init=False)

    def __post_init__(self) -> None:
        self.sealers = {key_id: Sealer.of(key_id, key) for key_id, key in self.private_keys.items()}
        self.keys = self.keys.with_public({key_id: key.public_key() for key_id, key in self.private_keys.items()})

    @property
    def sealer(self) -> Sealer:
        return self.sealers[self.signing_key_id]

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
            out = self.record_rejection(partition, head)
            out += self.checkpoint_if_due(partition, head, time.monotonic(), events=0)
            for sealed in out:
                await chain.send(key=position.key, value=canonical_json(sealed), partition=partition)
            return
        draft = parse_draft(position, self.max_message_bytes)
        if isinstance(draft, StageFailure):
            await self.runner.dead_letter(draft)
            return
        head = await self._head(partition)
        for sealed in [*self.record_rejection(partition, head), *self.seal_draft(partition, head, draft)]:
            await chain.send(key=position.key, value=canonical_json(sealed), partition=partition)
        metrics.AUDIT_SEALED.labels(str(partition)).inc()

    def record_rejection(self, partition: int, head: ChainHead) -> list[dict[str, Any]]:
        """When loading found records someone else wrote: an `audit.tail_rejected` event and a checkpoint over it."""
        if head.rejection is None:
            return []
        details, head.rejection = head.rejection, None
        draft = {
            "event_id": f"tail-rejected-{partition}-{head.next_seq}",
            "event_type": TAIL_REJECTED_EVENT,
            "stage": STAGE,
            "subject_id": f"audit-partition-{partition}",
            "tenant": None,
            "source_topic": self.topic,
            "partition": partition,
            "offset": details["first_offset"],
            "entity_counts": {},
            "versions": {},
            "timings_ms": {},
            "details": details,
            "emitted_at": datetime.now(UTC).isoformat(),
        }
        return [seal(draft, head, self.sealer), *self.checkpoint_now(partition, head, time.monotonic())]

    def seal_draft(self, partition: int, head: ChainHead, draft: dict[str, Any]) -> list[dict[str, Any]]:
        """The draft sealed, followed by a checkpoint when one is due."""
        sealed = seal(draft, head, self.sealer)
        return [sealed, *self.checkpoint_if_due(partition, head, time.monotonic(), events=self.checkpoint_every)]

    def checkpoint_if_due(self, partition: int, head: ChainHead, now: float, *, events: int) -> list[dict[str, Any]]:
        """A sealed checkpoint when `events` events (0: any) or the interval have passed since the last; else []."""
        if head.since_checkpoint == 0:
            return []
        due_by_count = events > 0 and head.since_checkpoint >= events
        if not due_by_count and now - head.checkpointed_at < self.checkpoint_interval_s:
            return []
        return self.checkpoint_now(partition, head, now)

    def checkpoint_now(self, partition: int, head: ChainHead, now: float) -> list[dict[str, Any]]:
        """A sealed checkpoint: a tree head over the events so far, signed with the signing key."""
        draft = checkpoint_draft(
            self.topic, partition, head, self.signing_key_id, self.private_keys[self.signing_key_id]
        )
        sealed = seal(draft, head, self.sealer)
        head.checkpointed_seq = sealed["seq"]
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
            try:
                resumed = await asyncio.to_thread(self.load_head, partition)
            except ChainRefusedError as exc:
                log.critical(
                    "audit_chain_refused",
                    topic=self.topic,
                    partition=partition,
                    offsets=list(exc.offsets[:20]),
                    reason=exc.reason,
                    action="nothing is sealed into this chain until an operator acts (README: Audit, keys)",
                )
                exit_for_restart(STAGE, f"audit chain of partition {partition} refused: {exc.reason}", error=exc)
            head = resumed.head
            self.heads[partition] = head
            self._log_resumed(partition, resumed)
        return head

    def load_head(self, partition: int) -> Resumed:
        """The head of a partition's chain, read back from the topic as far as its last checkpoint (blocking)."""
        low, high = self.reader.bounds(partition)
        now = time.monotonic()
        if high <= low:
            return Resumed(genesis_head(low, now))
        window = max(64, 4 * self.checkpoint_every)
        while True:
            start = max(low, high - window)
            records = [as_record(offset, _decode(value)) for offset, value in self.reader.records(partition, start)]
            resumed = resume_chain(
                partition,
                records,
                topic=self.topic,
                keys=self.keys,
                sealers=self.sealers,
                low_watermark=low,
                from_start=start == low,
                accept_legacy_tail=self.accept_legacy_tail,
                now=now,
            )
            if resumed is not None:
                return resumed
            window *= 8  # no checkpoint to resume from in this window: read further back

    def _log_resumed(self, partition: int, resumed: Resumed) -> None:
        head = resumed.head
        log.info(
            "audit_chain_resumed",
            topic=self.topic,
            partition=partition,
            next_seq=head.next_seq,
            anchor_offset=resumed.anchor_offset,
            unauthenticated_events=head.since_checkpoint,
        )
        if head.rejection is not None:
            rejection = head.rejection
            log.critical(
                "audit_tail_rejected",
                topic=self.topic,
                partition=partition,
                first_offset=rejection["first_offset"],
                last_offset=rejection["last_offset"],
                records=rejection["records"],
                rejected_seqs=rejection["rejected_seqs"],
                action="records after the last checkpoint were not written by the chainer: they are recorded as "
                "rejected in the chain and never signed over; find who can write the topic",
            )
        if resumed.legacy_tail:
            log.warning(
                "audit_chain_accepted_legacy_tail",
                topic=self.topic,
                partition=partition,
                first_offset=resumed.legacy_tail[0],
                last_offset=resumed.legacy_tail[-1],
                reason="SLUICE_AUDIT_ACCEPT_LEGACY_TAIL: unsealed events from an earlier version are signed over",
            )
        if resumed.truncated_from is not None:
            log.critical(
                "audit_log_truncated",
                topic=self.topic,
                partition=partition,
                signed_low_watermark=resumed.truncated_from,
                low_watermark=head.low_watermark,
                action="records before the log start were deleted after a checkpoint was signed",
            )


def _decode(value: bytes | None) -> dict[str, Any] | None:
    try:
        event = json.loads(value) if value is not None else None
    except ValueError:  # UnicodeDecodeError is a ValueError
        return None
    return event if isinstance(event, dict) else None


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


@dataclass(frozen=True)
class KafkaChainReader:
    """ChainReader over the cluster (blocking; the chainer calls it from a thread)."""

    bootstrap: str
    options: dict[str, str]
    topic: str = AUDIT_EVENTS.name

    def bounds(self, partition: int) -> tuple[int, int]:
        from agents.core.kafka_io import partition_bounds

        return partition_bounds(self.bootstrap, self.topic, partition, options=self.options)

    def records(self, partition: int, start: int) -> list[tuple[int, bytes | None]]:
        from agents.core.kafka_io import read_partition

        return [
            (r.offset, r.value)
            for r in read_partition(self.bootstrap, self.topic, partition, start, options=self.options)
        ]
