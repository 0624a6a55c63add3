"""The one type for a message read from Kafka."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SourcePosition:
    """A consumed message: where it came from (topic, partition, offset) and its key and value bytes.

    The one type for a message read from Kafka, whichever client read it (Faust, confluent-kafka): stages carry
    it so a failure can name its input, the CLI, tools and tests read topics as lists of it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    # The record's timestamp (ms since the epoch; CreateTime: when its producer sent it), where the reader kept it.
    timestamp_ms: int | None = None
