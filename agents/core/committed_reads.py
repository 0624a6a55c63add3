"""Workers read committed data only, under either processing guarantee, and table recovery ends at a marker.

Faust 0.15 ties two things to `processing_guarantee=exactly_once` that Sluice needs in both modes:

- **The isolation level.** Faust's worker consumer reads `read_committed` only under exactly-once. An
  at_least_once worker would read `read_uncommitted` and so restore table entries of aborted transactions,
  for instance an `answered_requests` entry whose response was never committed: the retried request would
  then be suppressed as a duplicate and never answered. Upstream producers may use transactions too.
- **The end of table recovery.** A changelog written under exactly-once ends in a transaction marker, an
  offset that carries no record. Recovery is finished when the last offset seen reaches the highwater, so
  it waits for a record that never comes. Faust repairs this only under exactly-once; an at_least_once
  worker started on such a changelog (a switch of guarantee, `sluice bench eos`) never became ready.

`ReadCommittedConsumer` fixes the first, `MarkerAwareRecovery` the second. `create_app` installs both.
"""

from __future__ import annotations

from collections.abc import Mapping

import aiokafka
import faust
from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Consumer, Transport
from faust.types import TP
from mode import Service

# Recovery's own loop wakes every 5 s when its queue is empty; two quiet checks make a partition settled.
SETTLE_CHECK_INTERVAL_S = 5.0


class ReadCommittedConsumerThread(AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Transport) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka reads the level when start() builds its fetcher, which has not happened yet.
        consumer._isolation_level = "read_committed"
        return consumer


class ReadCommittedConsumer(Consumer):
    def _new_consumer_thread(self) -> ReadCommittedConsumerThread:
        return ReadCommittedConsumerThread(self, loop=self.loop, beacon=self.beacon)


def passed_by_markers(
    highwaters: Mapping[TP, int | None], offsets: Mapping[TP, int | None], positions: Mapping[TP, int | None]
) -> dict[TP, int]:
    """Partitions whose consumer has moved past the highwater while the last record seen lies below it.

    Highwaters here are Faust's (the end offset minus one, the last offset that exists). A position past it
    means the consumer fetched everything; what lies between the last record and the highwater can only be
    control records (transaction markers) or batches of aborted transactions, which read_committed skips.
    """
    settled: dict[TP, int] = {}
    for tp, highwater in highwaters.items():
        offset, position = offsets.get(tp), positions.get(tp)
        if highwater is None or highwater < 0 or position is None:
            continue
        if (offset is None or offset < highwater) and position > highwater:
            settled[tp] = highwater
    return settled


class MarkerAwareRecovery(Recovery):
    """Faust's recovery, plus: an active changelog partition that ends in markers counts as fully read."""

    @Service.task
    async def _settle_partitions_ending_in_markers(self) -> None:
        previous: dict[TP, int] = {}
        while not self.should_stop:
            await self.sleep(SETTLE_CHECK_INTERVAL_S)
            if not self.in_recovery or not self.tables.changelog_queue.empty():
                previous = {}
                continue
            positions = {tp: await self.app.consumer.position(tp) for tp in list(self.active_highwaters)}
            settled = passed_by_markers(self.active_highwaters, self.active_offsets, positions)
            # Only what stayed so across two quiet checks: a record already fetched but still on its way to
            # the queue would otherwise be skipped as older than the offset set here.
            for tp, highwater in settled.items():
                if previous.get(tp) == highwater:
                    self.log.info("Changelog %s ends in transaction markers: read to %s", tp, highwater)
                    self.active_offsets[tp] = highwater
            previous = settled


class MarkerAwareTableManager(TableManager):
    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = MarkerAwareRecovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery


def install(app: faust.App) -> None:
    """Worker consumers of this app read committed data only (the transport is per app)."""
    app.transport.Consumer = ReadCommittedConsumer  # type: ignore[misc]
