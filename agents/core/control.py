"""Control topics (rules.v1, models.registry.v1, subjects.forgotten.v1): every worker reads each from the start."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import structlog
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from agents.core import metrics
from agents.core.dead_letters import FailureHandler
from agents.core.kafka_io import reader_group, record_of
from agents.core.messages import SourcePosition
from agents.core.stage import unexpected_failure
from schemas.errors import BrokerUnavailableError

log = structlog.get_logger(__name__)

Handler = Callable[[bytes | None, bytes | None, int], None]


class CompactedTopicWatcher:
    """Tails a compacted control topic outside any consumer group, so each worker sees every message.

    A consumer group would split the partitions between workers; control state must reach all of them.
    `wait_caught_up` lets a worker apply the current state before it processes its first record.

    A message the handler cannot apply is logged with its position and counted, and handed to `on_failure`
    (which dead-letters it) when one is given: nothing on a control topic is dropped without a trace.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        handler: Handler,
        options: dict[str, str] | None = None,
        *,
        on_failure: FailureHandler | None = None,
    ):
        self.topic = topic
        self._handler = handler
        self._on_failure = on_failure
        self._consumer = Consumer(
            {
                **(options or {}),
                "bootstrap.servers": bootstrap_servers,
                "group.id": reader_group("control"),  # required by librdkafka; never committed
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
            }
        )
        self._stop = threading.Event()
        self._caught_up = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"watch-{topic}", daemon=True)

    def start(self, retry_for_s: float = 120.0) -> None:
        """Learn where the topic ends, then follow it; a broker that is restarting is waited for, not fatal."""
        deadline = time.monotonic() + retry_for_s
        while True:
            try:
                partitions, self._ends = self._partitions_and_ends()
                break
            except KafkaException as exc:
                if time.monotonic() > deadline:
                    raise BrokerUnavailableError(f"cannot read {self.topic}: {exc.args[0]}") from exc
                log.warning("control_topic_unavailable", topic=self.topic, error=str(exc.args[0]), retry_in_s=2)
                time.sleep(2)
        assignment = [TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in partitions]
        self._consumer.assign(assignment)
        self._positions = dict.fromkeys(partitions, 0)
        self._check_caught_up()
        self._thread.start()

    def _partitions_and_ends(self) -> tuple[list[int], dict[int, int]]:
        metadata = self._consumer.list_topics(self.topic, timeout=15)
        partitions = sorted(metadata.topics[self.topic].partitions)
        ends = {
            p: self._consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=15)[1] for p in partitions
        }
        return partitions, ends

    def _check_caught_up(self) -> None:
        if all(self._positions[p] >= end for p, end in self._ends.items()):
            self._caught_up.set()

    def wait_caught_up(self, timeout_s: float = 30.0) -> bool:
        return self._caught_up.wait(timeout_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            message = self._consumer.poll(0.5)
            if message is None:
                continue
            if message.error():
                log.warning("control_topic_error", topic=self.topic, error=str(message.error()))
                time.sleep(1)
                continue
            record = record_of(message)
            try:
                self._handler(record.key, record.value, record.offset)
            except Exception as exc:  # a bad control message must not stop the watcher
                self._reject(record.partition, record.offset, record.key, record.value, exc)
            self._positions[record.partition] = record.offset + 1
            if not self._caught_up.is_set():
                self._check_caught_up()
        self._consumer.close()

    def _reject(self, partition: int, offset: int, key: bytes | None, value: bytes | None, exc: Exception) -> None:
        metrics.CONTROL_MESSAGES_REJECTED.labels(self.topic).inc()
        log.error(
            "control_message_failed",
            topic=self.topic,
            partition=partition,
            offset=offset,
            error_type=type(exc).__name__,
            exc_info=exc,
        )
        if self._on_failure is None:
            return
        failure = unexpected_failure(SourcePosition(self.topic, partition, offset, key, value), "control", exc)
        try:
            self._on_failure(failure)
        except Exception:
            log.exception("control_dead_letter_failed", topic=self.topic, partition=partition, offset=offset)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
