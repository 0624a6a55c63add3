"""Reading a topic to its end: the end is what the consumer reports, never a quiet moment."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from confluent_kafka import KafkaError

from agents.core import kafka_io


@dataclass
class Delivered:
    """What confluent-kafka's poll hands back: a record, or an end-of-partition event."""

    partition_: int
    offset_: int
    eof: bool = False

    def error(self) -> KafkaError | None:
        return KafkaError(KafkaError._PARTITION_EOF) if self.eof else None

    def partition(self) -> int:
        return self.partition_

    def offset(self) -> int:
        return self.offset_

    def topic(self) -> str:
        return "t"

    def key(self) -> bytes:
        return b"k"

    def value(self) -> bytes:
        return f"{self.partition_}:{self.offset_}".encode()

    def timestamp(self) -> tuple[int, int]:
        return (1, 1_000)


class ScriptedConsumer:
    """Polls return the script in order (None: nothing this poll), then nothing forever."""

    def __init__(self, script: list[Delivered | None]) -> None:
        self._script = iter(script)

    def poll(self, _timeout: float) -> Delivered | None:
        return next(self._script, None)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every read of the clock is half a second later, as if each poll waited its full timeout."""
    ticks = itertools.count()
    monkeypatch.setattr(kafka_io.time, "monotonic", lambda: next(ticks) * 0.5)  # type: ignore[attr-defined]
    yield


def read(script: list[Delivered | None], partitions: set[int], stall_timeout_s: float) -> list[str]:
    consumer = ScriptedConsumer(script)
    records = kafka_io._read_to_end(consumer, "t", partitions, stall_timeout_s)  # type: ignore[arg-type]
    return [(r.value or b"").decode() for r in records]


def test_a_slow_start_is_waited_for_not_taken_for_the_end(clock: None) -> None:
    # Ten silent polls (five seconds on a busy machine) before the first record: the old quiet-second rule
    # returned nothing here, and a caller read an empty topic.
    script: list[Delivered | None] = [None] * 10 + [Delivered(0, 0), Delivered(0, 1), Delivered(0, 2, eof=True)]
    assert read(script, {0}, stall_timeout_s=30) == ["0:0", "0:1"]


def test_reading_stops_when_every_partition_reported_its_end(clock: None) -> None:
    # Records after partition 0's end belong to a later read (they were committed after it was reached).
    script: list[Delivered | None] = [
        Delivered(0, 5),
        Delivered(1, 7),
        Delivered(0, 6, eof=True),
        None,
        Delivered(0, 6),
        Delivered(1, 8, eof=True),
        Delivered(1, 8),
    ]
    assert read(script, {0, 1}, stall_timeout_s=30) == ["0:5", "1:7"]


def test_a_read_that_stalls_raises_instead_of_returning_part_of_the_topic(clock: None) -> None:
    script: list[Delivered | None] = [Delivered(0, 0), Delivered(1, 0, eof=True)]
    with pytest.raises(TimeoutError, match=r"partitions \[0\] made no progress for 5 s"):
        read(script, {0, 1}, stall_timeout_s=5)


class Failing(Delivered):
    """A non-end error event, as librdkafka reports a broker or topic error."""

    def error(self) -> KafkaError | None:
        return KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART)


def test_an_error_repeated_forever_is_not_progress(clock: None) -> None:
    script: list[Delivered | None] = [Failing(0, 0)] * 100
    with pytest.raises(TimeoutError, match="no progress for 5 s; last error"):
        read(script, {0}, stall_timeout_s=5)
