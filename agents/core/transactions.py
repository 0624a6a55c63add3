"""Exactly-once for Faust: every output of an input commits in one Kafka transaction with the input's offset.

Faust 0.15's own TransactionManager does not deliver this for Sluice's topology (read the code before changing
this module):

- it picks a transactional producer by the *destination* partition and topic group, so a send to a topic the
  worker does not consume (records.deidentified.v1 from the de-identify worker) fails, and an output can commit
  in a different transaction from its input's offset;
- table changelog writes use `send_soon`, which it does not implement;
- its commit runs on a timer while agents are still working, so a transaction can commit the outputs of an event
  whose offset is not committed yet (or of an event behind a slower one): a crash then repeats those outputs.

`OutboxTransactionManager` keeps Faust's consumer, offset tracking and per-partition transactional producers
(`{app id}-{topic group}-{partition}`, so a restarted or rebalanced worker fences its predecessor), and changes
what a send and a commit do:

- a send made while processing an event (faust's `current_event()`) is held in an outbox under the event's
  topic-partition and offset: nothing reaches Kafka yet;
- at commit, Faust hands over the highest contiguous acknowledged offset per partition; the outbox entries of
  exactly those events are sent through that partition's transactional producer, the offsets are added to the
  same transaction, and it commits. Events after a gap keep their outputs until the gap closes.

So for every input the outputs (records, responses, dead letters, audit drafts, table changelog entries) and the
consumer offset become visible together or not at all, to `read_committed` readers. An acknowledged event is
complete by construction: agents acknowledge an event only after every send for it was made (take_events acks a
micro-batch after the loop body returns). Sends with no current event (a registry switch, an API call) are not
caused by an input and go through the idempotent producer outside any transaction.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import faust
import structlog
from faust.streams import _current_event, current_event
from faust.transport.consumer import Consumer, TransactionManager
from faust.types import TP, EventT, FutureMessage, HeadersArg, Message, RecordMetadata
from mode import Service

from agents.core.restart import exit_for_restart

log = structlog.get_logger(__name__)

# How often outputs a commit held back (an unfinished input ahead of them) are looked at again.
CATCH_UP_INTERVAL_S = 0.1
STUCK_AFTER_S = 600.0  # longer than any micro-batch takes: an input open this long was dropped, not slow

# Set while the outbox of one partition is being written: sends then go straight to that transactional producer.
_flushing_into: ContextVar[str | None] = ContextVar("sluice_flushing_into", default=None)


class InFlight:
    """Inputs an agent has taken and not finished, per partition (one per worker process).

    Faust can acknowledge an input the agent has not finished: take_events acknowledges a micro-batch also when
    its loop body is left by an exception or a cancellation, and after worker restarts commits were seen to
    pass an input still being answered. An input whose outputs were not all made must not be committed.
    """

    def __init__(self) -> None:
        self._open: dict[TP, dict[int, float]] = defaultdict(dict)  # offset → when it was taken
        # Every message the consumer handed on, in offset order, until it is finished. Faust's own bookkeeping
        # misses one still waiting in a stream's buffer: `_new_offset` accepts a one-offset gap at the head of
        # the acknowledged list (meant for transaction markers), so a commit could pass it.
        self._delivered: dict[TP, deque[tuple[Message, float]]] = defaultdict(deque)  # with when it came
        # Finished inputs whose outputs may commit before the inputs ahead of them in their partition (finish with
        # release_early): a repeat of such an input is recognised by its id and answered by nothing.
        self._early: dict[TP, set[int]] = defaultdict(set)

    def deliver(self, message: Message) -> None:
        """The consumer handed `message` to the streams: it is unfinished until acknowledged and finished."""
        self._delivered[message.tp].append((message, time.monotonic()))
        self._drop_finished(message.tp)

    def first_unfinished(self, tp: TP) -> int | None:
        """The lowest offset delivered or taken and not yet finished: no commit may pass it."""
        delivered = self._drop_finished(tp)
        candidates = [self.first_open(tp), delivered[0][0].offset if delivered else None]
        offsets = [offset for offset in candidates if offset is not None]
        return min(offsets) if offsets else None

    def _drop_finished(self, tp: TP) -> deque[tuple[Message, float]]:
        delivered = self._delivered[tp]
        open_offsets = self._open.get(tp, {})
        while delivered and delivered[0][0].acked and delivered[0][0].offset not in open_offsets:
            delivered.popleft()
        return delivered

    def begin(self, events: Iterable[EventT[Any]]) -> None:
        now = time.monotonic()
        for event in events:
            self._open[event.message.tp].setdefault(event.message.offset, now)

    def finish(self, event: EventT[Any], *, release_early: bool = False) -> None:
        """The input's outputs are all made. `release_early`: they may commit before the inputs ahead of it in its
        partition are finished — only for an input whose repeat (after a crash, the offset commits later) the
        agent itself recognises and answers by nothing (the inference flow's answered_requests table)."""
        self._open[event.message.tp].pop(event.message.offset, None)
        if release_early:
            self._early[event.message.tp].add(event.message.offset)

    def releasable(self, tp: TP, committed: int) -> list[int]:
        """Offsets at or past `committed` whose outputs may commit now; those below it are forgotten."""
        early = self._early.get(tp)
        if not early:
            return []
        early.difference_update([offset for offset in early if offset < committed])
        return sorted(early)

    def released(self, tp: TP, offsets: Iterable[int]) -> None:
        """Those early outputs are out (their offsets still commit in order, later)."""
        self._early.get(tp, set()).difference_update(offsets)

    def first_open(self, tp: TP) -> int | None:
        offsets = self._open.get(tp)
        return min(offsets) if offsets else None

    def open_for_s(self, tp: TP, offset: int) -> float:
        """How long `offset` has been unfinished: since it was taken, or else since it was delivered."""
        since = self._open.get(tp, {}).get(offset)
        if since is None:
            since = next((at for message, at in self._delivered.get(tp, ()) if message.offset == offset), None)
        return 0.0 if since is None else time.monotonic() - since

    def forget(self, tps: set[TP]) -> None:
        for tp in tps:
            self._open.pop(tp, None)
            self._delivered.pop(tp, None)
            self._early.pop(tp, None)


# The process's one consumer: agents mark what they take and finish, the transaction manager checks commits.
in_flight = InFlight()


def attribute_to(event: EventT[Any]) -> None:
    """Make `event` the current event of this task: sends and table writes that follow belong to it.

    Faust sets the current event as a stream yields; code that handles several events of a micro-batch
    (or runs them in tasks of its own) must say which one each output belongs to.
    """
    _current_event.set(weakref.ref(event))


@dataclass
class _Held:
    """One output waiting in the outbox for its event's offset to commit."""

    publish: Callable[[], Awaitable[Any]]
    result: asyncio.Future[RecordMetadata] | None = None


@dataclass
class Outbox:
    """Outputs per input partition and offset, released in offset order up to a committed offset."""

    held: dict[TP, dict[int, list[_Held]]] = field(default_factory=lambda: defaultdict(dict))

    def hold(self, tp: TP, offset: int, item: _Held) -> None:
        self.held[tp].setdefault(offset, []).append(item)

    def release(self, tp: TP, committed: int) -> list[_Held]:
        """Everything held for offsets below `committed` (the next offset to consume), oldest first."""
        by_offset = self.held.get(tp)
        if not by_offset:
            return []
        ready = sorted(offset for offset in by_offset if offset < committed)
        return [item for offset in ready for item in by_offset.pop(offset)]

    def release_offsets(self, tp: TP, offsets: Iterable[int]) -> list[_Held]:
        """Everything held for exactly these offsets (finished inputs released early), in offset order."""
        by_offset = self.held.get(tp)
        if not by_offset:
            return []
        return [item for offset in sorted(offsets) for item in by_offset.pop(offset, [])]

    def discard(self, tps: set[TP]) -> int:
        """Drop what is held for partitions this worker lost: their events will be processed again elsewhere."""
        dropped = 0
        for tp in tps:
            for items in self.held.pop(tp, {}).values():
                for item in items:
                    if item.result is not None and not item.result.done():
                        item.result.cancel()
                    dropped += 1
        return dropped

    def __len__(self) -> int:
        return sum(len(items) for by_offset in self.held.values() for items in by_offset.values())


class OutboxTransactionManager(TransactionManager):
    """Faust's transaction manager with outputs held per input offset until that offset commits."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.outbox = Outbox()
        self._commit_lock = asyncio.Lock()
        # Faust's tables write their changelogs with `app.producer.send_soon`, the plain producer, not this
        # manager: left alone, a table change (an answered request id) would be visible even when the
        # transaction holding the response aborted. Route them through the outbox like every other output.
        plain_send_soon = self.producer.send_soon

        def send_soon(fut: FutureMessage) -> None:
            if current_event() is None or _flushing_into.get() is not None:
                plain_send_soon(fut)
            else:
                self.send_soon(fut)

        self.producer.send_soon = send_soon  # type: ignore[method-assign]
        self._track_deliveries()
        self._target: dict[TP, int] = {}  # the highest offset Faust asked to commit, per partition
        self._committed: dict[TP, int] = {}  # the highest offset committed, per partition

    def _track_deliveries(self) -> None:
        # The consumer's fetcher calls this callback (the conductor's) for every message, in offset order, before
        # any stream sees it; it reads the attribute once as it starts, after this manager is made.
        consumer = self.consumer
        assert isinstance(consumer, Consumer)  # the concrete consumer, which has the callback the interface lacks
        deliver_to_streams = consumer.callback
        acks_enabled_for = self.app.topics.acks_enabled_for

        async def on_message(message: Message) -> None:
            if acks_enabled_for(message.topic):  # a topic without acks (a changelog) is never committed by offset
                in_flight.deliver(message)
            await deliver_to_streams(message)

        consumer.callback = on_message

    def _transactional_id(self, tp: TP) -> str:
        # The id Faust's producers were started under for this input partition (see TransactionManager).
        group = self.app.assignor.group_for_topic(tp.topic)
        return f"{self.app.conf.id}-{group}-{tp.partition}"

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None,
        timestamp: float | None,
        headers: HeadersArg | None,
        *,
        transactional_id: str | None = None,
    ) -> Awaitable[RecordMetadata]:
        flushing = _flushing_into.get()
        if flushing is not None:
            return await self.producer.send(topic, key, value, partition, timestamp, headers, transactional_id=flushing)
        event = current_event()
        if event is None:
            return await self.producer.send(topic, key, value, partition, timestamp, headers)
        result: asyncio.Future[RecordMetadata] = asyncio.get_running_loop().create_future()

        async def publish() -> Any:
            sent = await self.producer.send(
                topic, key, value, partition, timestamp, headers, transactional_id=_flushing_into.get()
            )
            sent.add_done_callback(lambda done: _settle(result, done))  # type: ignore[attr-defined]
            return sent

        message = event.message
        self.outbox.hold(message.tp, message.offset, _Held(publish, result))
        return result

    def send_soon(self, fut: FutureMessage) -> None:
        """Table changelog writes: held like any send of the current event, published through the channel."""
        event = current_event()
        if event is None:
            raise RuntimeError("a table was changed outside of an event: under exactly-once it has no transaction")

        async def publish() -> Any:
            return await fut.message.channel.publish_message(fut, wait=False)

        message = event.message
        self.outbox.hold(message.tp, message.offset, _Held(publish))

    async def commit(self, offsets: Mapping[TP, int], start_new_transaction: bool = True) -> bool:
        """Commit what Faust asks, never past an input this process took and has not finished.

        Faust can acknowledge an input before the agent finished it (seen after a worker restart, under
        concurrent actors); committing that offset would lose the input's outputs. The commit stops below the
        first unfinished input instead, and `_catch_up` commits the rest once it is finished.
        """
        for tp, offset in offsets.items():
            self._target[tp] = max(self._target.get(tp, 0), offset)
        try:
            return await self._commit_safe(start_new_transaction)
        except Exception as exc:  # any failure: the transaction's fate is unknown
            # A graceful stop would commit again, without the outputs this attempt already took from the outbox.
            exit_for_restart("commit", "commit failed", error=exc)

    def _safe_offsets(self) -> dict[TP, int]:
        safe: dict[TP, int] = {}
        for tp, target in self._target.items():
            first_open = in_flight.first_unfinished(tp)
            offset = target if first_open is None else min(target, first_open)
            if offset > self._committed.get(tp, -1):
                safe[tp] = offset
            if first_open is not None and first_open < target:
                held_s = in_flight.open_for_s(tp, first_open)
                if held_s > STUCK_AFTER_S:  # acknowledged, yet never finished: it will not be, restart
                    exit_for_restart(
                        "commit", f"offset {first_open} of {tp.topic}[{tp.partition}] unfinished for {held_s:.0f} s"
                    )
        return safe

    def _early_offsets(self, offsets: Mapping[TP, int]) -> dict[TP, list[int]]:
        """Per partition, finished inputs past the offset this commit reaches whose outputs may go now."""
        early: dict[TP, list[int]] = {}
        for tp in self._target:
            base = offsets.get(tp, self._committed.get(tp))
            if base is None:  # nothing committed here yet: the transaction needs an offset to carry
                continue
            if releasable := in_flight.releasable(tp, base):
                early[tp] = releasable
        return early

    async def _commit_safe(self, start_new_transaction: bool) -> bool:
        async with self._commit_lock:
            offsets = self._safe_offsets()
            early = self._early_offsets(offsets)
            if not offsets and not early:
                return False
            # A partition with early outputs only commits its offset again, unchanged: the transaction needs it.
            offsets = {**{tp: self._committed[tp] for tp in early if tp not in offsets}, **offsets}
            by_transaction: dict[str, dict[TP, int]] = defaultdict(dict)
            for tp, offset in offsets.items():
                by_transaction[self._transactional_id(tp)][tp] = offset
            for transactional_id, tp_offsets in by_transaction.items():
                token = _flushing_into.set(transactional_id)
                try:
                    for tp, offset in tp_offsets.items():
                        for item in self.outbox.release(tp, offset):
                            await item.publish()
                        for item in self.outbox.release_offsets(tp, early.get(tp, ())):
                            await item.publish()
                        in_flight.released(tp, early.get(tp, ()))
                finally:
                    _flushing_into.reset(token)
            committed = await super().commit(offsets, start_new_transaction=start_new_transaction)
            self._committed.update(offsets)
            return committed

    @Service.task
    async def _catch_up(self) -> None:
        # Faust commits only when new offsets are acknowledged; what a clamp held back is committed from here.
        while not self.should_stop:
            await self.sleep(CATCH_UP_INTERVAL_S)
            behind = any(self._committed.get(tp, -1) < target for tp, target in self._target.items())
            if behind or any(in_flight.releasable(tp, self._committed.get(tp, 0)) for tp in self._committed):
                try:
                    await self._commit_safe(start_new_transaction=True)
                except Exception as exc:  # the same reasoning as in commit
                    exit_for_restart("commit", "commit failed", error=exc)

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        # Faust has committed what was complete before calling this; the rest is processed again by the new owner.
        dropped = self.outbox.discard(set(revoked))
        in_flight.forget(set(revoked))
        for tp in revoked:
            self._target.pop(tp, None)
            self._committed.pop(tp, None)
        if dropped:
            log.info("outbox_discarded_on_revoke", outputs=dropped, partitions=len(revoked))
        await super().on_partitions_revoked(revoked)


def _settle(result: asyncio.Future[RecordMetadata], sent: asyncio.Future[RecordMetadata]) -> None:
    if result.done():
        return
    if sent.cancelled():
        result.cancel()
    elif (exc := sent.exception()) is not None:
        result.set_exception(exc)
    else:
        result.set_result(sent.result())


def install(app: faust.App) -> None:
    """Use the outbox transaction manager for this app (only matters under processing_guarantee=exactly_once)."""
    app.transport.TransactionManager = OutboxTransactionManager  # type: ignore[misc]
