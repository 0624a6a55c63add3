"""Reads an audit topic completely, read_committed, up to each partition's last stable offset (for verify and replay).

Verification must never pass on a partial read, so the end is not guessed from an idle pause: each partition is
read until the consumer's position reaches the last stable offset taken when reading starts (transaction markers
included), and a read that stops making progress is an error, not a shorter chain.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from confluent_kafka import OFFSET_BEGINNING, IsolationLevel, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]

from agents.core.kafka_io import committed_reader
from agents.core.messages import SourcePosition
from schemas.errors import RetriableError


class AuditReadError(RetriableError):
    """The audit topic is missing, unreachable, or could not be read to its end."""


def read_audit_topic(
    bootstrap: str,
    topic: str,
    *,
    options: dict[str, str] | None = None,
    stall_timeout_s: float = 30.0,
    on_progress: Callable[[int], None] | None = None,
    progress_every: int = 10_000,
    on_bounds: Callable[[dict[int, tuple[int, int]]], None] | None = None,
) -> Iterator[SourcePosition]:
    """Every committed record of `topic`, in offset order per partition, up to the end as of the call.

    `on_bounds` gets each partition's (log start offset, last stable offset) before the first record.
    """
    bounds = _bounds(bootstrap, topic, options)
    if on_bounds is not None:
        on_bounds(bounds)
    ends = {partition: end for partition, (_, end) in bounds.items()}
    consumer = committed_reader(bootstrap, "audit", options)
    try:
        pending = {p for p, end in ends.items() if end > 0}
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in sorted(pending)])
        count = 0
        last_progress = time.monotonic()
        while pending:
            message = consumer.poll(0.5)
            if message is not None and not message.error():
                partition, offset = message.partition(), message.offset()
                assert partition is not None and offset is not None
                if offset < ends[partition]:
                    count += 1
                    last_progress = time.monotonic()
                    yield SourcePosition(topic, partition, offset, message.key(), message.value())
                    if on_progress is not None and count % progress_every == 0:
                        on_progress(count)
                if offset + 1 >= ends[partition]:
                    pending.discard(partition)
                continue
            # Idle: a partition whose last records are transaction markers ends without a message at its end.
            for position in consumer.position([TopicPartition(topic, p) for p in pending]):
                if position.offset >= ends[position.partition]:
                    pending.discard(position.partition)
            if pending and time.monotonic() - last_progress > stall_timeout_s:
                raise AuditReadError(
                    f"reading {topic} stalled for {stall_timeout_s:.0f}s before the end of partition(s) "
                    f"{sorted(pending)}: not verifying a partial read"
                )
    finally:
        consumer.close()


def _bounds(bootstrap: str, topic: str, options: dict[str, str] | None) -> dict[int, tuple[int, int]]:
    """(log start offset, last stable offset) of each partition; raises when the topic is missing."""
    # log_level 4: no info line about background events purged when the admin client closes.
    admin = AdminClient({"log_level": 4, **(options or {}), "bootstrap.servers": bootstrap})
    try:
        metadata = admin.list_topics(topic, timeout=15).topics.get(topic)
        if metadata is None or metadata.error is not None or not metadata.partitions:
            reason = metadata.error.str() if metadata is not None and metadata.error is not None else "no partitions"
            raise AuditReadError(f"topic {topic!r} cannot be read: {reason}")

        def offsets(spec: OffsetSpec) -> dict[int, int]:
            request = {TopicPartition(topic, p): spec for p in metadata.partitions}
            futures = admin.list_offsets(request, isolation_level=IsolationLevel.READ_COMMITTED, request_timeout=15)
            return {tp.partition: future.result().offset for tp, future in futures.items()}

        lows = offsets(OffsetSpec.earliest())  # type: ignore[no-untyped-call]
        ends = offsets(OffsetSpec.latest())  # type: ignore[no-untyped-call]
        return {partition: (lows[partition], end) for partition, end in ends.items()}
    except KafkaException as exc:
        raise AuditReadError(f"cannot read {topic} from {bootstrap}: {exc}") from None
