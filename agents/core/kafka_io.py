"""Small confluent-kafka helpers for the CLI, demo and bench: produce a list, read a topic to its end."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator

from confluent_kafka import (
    OFFSET_BEGINNING,
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaError,
    Message,
    Producer,
    TopicPartition,
)

from agents.core.messages import SourcePosition

# Sluice's own readers assign partitions and never commit, but librdkafka still looks up their group's coordinator.
# One prefix for all those throwaway groups lets a secured cluster allow that lookup with one ACL (DESCRIBE on the
# prefix, agents/processes/access.py) without letting anyone join the workers' real consumer groups.
READER_GROUP_PREFIX = "sluice-reader-"


def reader_group(purpose: str) -> str:
    """A fresh throwaway group id for a reader that only assigns partitions (never subscribes or commits)."""
    return f"{READER_GROUP_PREFIX}{purpose}-{uuid.uuid4().hex[:8]}"


def committed_reader(
    bootstrap: str, purpose: str, options: dict[str, str] | None = None, **extra: str | bool
) -> Consumer:
    """A consumer that assigns partitions itself, reads only committed records and never commits offsets: how
    every reader of Sluice's own outputs (tools, demo, tests) sees a topic."""
    config: dict[str, str | bool] = {
        **(options or {}),
        "bootstrap.servers": bootstrap,
        "group.id": reader_group(purpose),
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
        **extra,
    }
    return Consumer(config)


def record_of(message: Message) -> SourcePosition:
    """A delivered message as a plain value (librdkafka types topic/partition/offset as optional)."""
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    assert topic is not None and partition is not None and offset is not None, "not a delivered message"
    kind, timestamp = message.timestamp()
    known = timestamp if kind != TIMESTAMP_NOT_AVAILABLE and timestamp >= 0 else None
    return SourcePosition(topic, partition, offset, message.key(), message.value(), known)


def producer(bootstrap: str, options: dict[str, str] | None = None) -> Producer:
    return Producer(
        {
            **(options or {}),
            "bootstrap.servers": bootstrap,
            "linger.ms": 5,
            "acks": "all",
            "enable.idempotence": True,
        }
    )


def produce_all(
    bootstrap: str,
    messages: Iterable[tuple[str, bytes | None, bytes | None]],
    *,
    options: dict[str, str] | None = None,
    on_sent: Callable[[], None] | None = None,
) -> int:
    """Produce (topic, key, value) triples; raises if any delivery fails."""
    client = producer(bootstrap, options)
    errors: list[str] = []

    def delivered(err: object, _msg: Message) -> None:
        if err is not None:
            errors.append(str(err))
        elif on_sent is not None:
            on_sent()

    count = 0
    for topic, key, value in messages:
        while True:
            try:
                client.produce(topic, key=key, value=value, on_delivery=delivered)
                break
            except BufferError:
                client.poll(0.1)
        client.poll(0)
        count += 1
    client.flush(60)
    if errors:
        raise RuntimeError(f"{len(errors)} messages were not delivered; first error: {errors[0]}")
    return count


def end_offsets(bootstrap: str, topic: str, options: dict[str, str] | None = None) -> dict[int, int]:
    """The next offset of every partition: read_topic(start=…) from here sees only what comes after."""
    consumer = Consumer({**(options or {}), "bootstrap.servers": bootstrap, "group.id": reader_group("ends")})
    try:
        partitions = consumer.list_topics(topic, timeout=15).topics[topic].partitions
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=15)[1] for p in partitions}
    finally:
        consumer.close()


def read_topic(
    bootstrap: str,
    topic: str,
    *,
    stall_timeout_s: float = 60.0,
    options: dict[str, str] | None = None,
    start: dict[int, int] | None = None,
) -> Iterator[SourcePosition]:
    """Every committed message of a topic from the beginning (or from `start` offsets) to its end.

    The end of each partition is where the consumer reports end-of-partition: for a read_committed reader that
    is the last stable offset, so nothing committed is missed and no open transaction is waited for. (The high
    watermark cannot tell the end: a transactional partition ends in a commit marker no reader ever sees, and a
    read that stopped after a quiet second lost the tail on a busy machine.) A read that makes no progress for
    `stall_timeout_s` raises TimeoutError rather than returning part of the topic as if it were all of it.
    """
    consumer = committed_reader(bootstrap, "read", options, **{"enable.partition.eof": True})
    try:
        partitions = sorted(consumer.list_topics(topic, timeout=15).topics[topic].partitions)
        first = start or {}
        consumer.assign([TopicPartition(topic, p, first.get(p, OFFSET_BEGINNING)) for p in partitions])
        yield from _read_to_end(consumer, topic, set(partitions), stall_timeout_s)
    finally:
        consumer.close()


def _read_to_end(
    consumer: Consumer, topic: str, partitions: set[int], stall_timeout_s: float
) -> Iterator[SourcePosition]:
    """What an end-of-partition-reporting consumer assigned to `partitions` delivers until each reached its end."""
    pending = set(partitions)
    progressed = time.monotonic()
    while pending:
        message = consumer.poll(0.5)
        if message is None:
            if time.monotonic() - progressed > stall_timeout_s:
                raise TimeoutError(
                    f"reading {topic}: partitions {sorted(pending)} made no progress for {stall_timeout_s:.0f} s "
                    "before their end; is the broker up? (sluice status)"
                )
            continue
        error = message.error()
        if error is not None:
            # Only a record or an end counts as progress: an error repeated forever (a deleted topic) must not.
            if error.code() == KafkaError._PARTITION_EOF:
                pending.discard(message.partition())
                progressed = time.monotonic()
            elif time.monotonic() - progressed > stall_timeout_s:
                raise TimeoutError(f"reading {topic}: no progress for {stall_timeout_s:.0f} s; last error: {error}")
            continue
        progressed = time.monotonic()
        if message.partition() in pending:
            yield record_of(message)


class TopicFollower:
    """Follows topics from the beginning and hands every new message to a callback (demo progress, tests)."""

    def __init__(self, bootstrap: str, topics: list[str], options: dict[str, str] | None = None) -> None:
        self.consumer = committed_reader(bootstrap, "follow", options)
        assignment = []
        for topic in topics:
            for p in sorted(self.consumer.list_topics(topic, timeout=15).topics[topic].partitions):
                assignment.append(TopicPartition(topic, p, OFFSET_BEGINNING))
        self.consumer.assign(assignment)

    def poll(self, seconds: float) -> list[SourcePosition]:
        deadline = time.monotonic() + seconds
        out: list[SourcePosition] = []
        while time.monotonic() < deadline:
            message = self.consumer.poll(min(0.2, max(0.0, deadline - time.monotonic())))
            if message is None:
                if out:
                    break
                continue
            if message.error():
                continue
            out.append(record_of(message))
        return out

    def close(self) -> None:
        self.consumer.close()


def partition_bounds(
    bootstrap: str, topic: str, partition: int, *, options: dict[str, str] | None = None
) -> tuple[int, int]:
    """(low, high) watermark of one partition: its first offset (the log start) and the offset after its last."""
    consumer = Consumer({**(options or {}), "bootstrap.servers": bootstrap, "group.id": reader_group("bounds")})
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=15)
        return int(low), int(high)
    finally:
        consumer.close()


def read_partition(
    bootstrap: str,
    topic: str,
    partition: int,
    start: int,
    *,
    options: dict[str, str] | None = None,
    timeout_s: float = 120.0,
) -> list[SourcePosition]:
    """Every committed message of one partition from offset `start` to its end, read_committed, in offset order.

    The end is where the consumer reports end-of-partition (read_committed: the last stable offset), so a
    transaction still open is never read half; a read that makes no progress for `timeout_s` raises.
    """
    consumer = committed_reader(bootstrap, "partition", options, **{"enable.partition.eof": True})
    try:
        consumer.assign([TopicPartition(topic, partition, start)])
        return list(_read_to_end(consumer, topic, {partition}, timeout_s))
    finally:
        consumer.close()


class TopicCatalog:
    """Which topics exist, asked of the cluster at most every `ttl_s` (blocking: call it from a thread)."""

    def __init__(self, bootstrap: str, options: dict[str, str] | None = None, ttl_s: float = 30.0) -> None:
        from confluent_kafka.admin import AdminClient

        self._admin = AdminClient({**(options or {}), "bootstrap.servers": bootstrap})
        self._ttl_s = ttl_s
        self._names: set[str] = set()
        self._fetched_at = float("-inf")
        self._lock = threading.Lock()

    def exists(self, name: str) -> bool:
        with self._lock:
            age = time.monotonic() - self._fetched_at
            # A topic created a moment ago is found by asking again, at most once a second.
            if age > self._ttl_s or (name not in self._names and age > 1.0):
                self._refresh()
            return name in self._names

    def names(self, *, max_age_s: float | None = None) -> set[str]:
        """Every topic this client may see (on a secured cluster: those its principal may describe), as listed at
        most `max_age_s` ago (default: the catalog's ttl)."""
        with self._lock:
            if time.monotonic() - self._fetched_at > (self._ttl_s if max_age_s is None else max_age_s):
                self._refresh()
            return set(self._names)

    def _refresh(self) -> None:
        self._names = set(self._admin.list_topics(timeout=15).topics)
        self._fetched_at = time.monotonic()
