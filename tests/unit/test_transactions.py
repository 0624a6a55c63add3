"""The outbox releases an input's outputs only once its offset commits, in offset order."""

from __future__ import annotations

import asyncio

from faust.types import TP

from agents.core.transactions import Outbox, _Held

TP0 = TP("erp.events.v1", 0)
TP1 = TP("erp.events.v1", 1)


def held(name: str, log: list[str]) -> _Held:
    async def publish() -> None:
        log.append(name)

    return _Held(publish)


def test_release_covers_exactly_the_offsets_below_the_committed_one_oldest_first() -> None:
    log: list[str] = []
    outbox = Outbox()
    for offset, name in [(7, "c"), (5, "a1"), (9, "d"), (5, "a2"), (6, "b")]:
        outbox.hold(TP0, offset, held(name, log))
    outbox.hold(TP1, 1, held("other-partition", log))

    items = outbox.release(TP0, 8)  # Kafka's committed offset is the next one to read: 5, 6, 7 are done
    asyncio.run(_publish_all(items))
    assert log == ["a1", "a2", "b", "c"]
    assert len(outbox) == 2  # offset 9 of TP0 and TP1's entry wait for their own commits
    assert outbox.release(TP0, 8) == []


def test_outputs_behind_a_gap_wait_for_the_gap_to_close() -> None:
    log: list[str] = []
    outbox = Outbox()
    outbox.hold(TP0, 12, held("after-gap", log))
    # Faust commits 11 while event 11 is still in flight: event 12's outputs must not leave yet.
    assert outbox.release(TP0, 11) == []
    asyncio.run(_publish_all(outbox.release(TP0, 13)))
    assert log == ["after-gap"]


def test_discarding_a_revoked_partition_drops_its_outputs_and_cancels_waiters() -> None:
    async def scenario() -> tuple[int, bool, int]:
        outbox = Outbox()
        waiter: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        outbox.hold(TP0, 3, _Held(_noop, waiter))  # type: ignore[arg-type]
        outbox.hold(TP1, 3, _Held(_noop))
        dropped = outbox.discard({TP0})
        return dropped, waiter.cancelled(), len(outbox)

    dropped, cancelled, left = asyncio.run(scenario())
    assert (dropped, cancelled, left) == (1, True, 1)


async def _noop() -> None:
    return None


async def _publish_all(items: list[_Held]) -> None:
    for item in items:
        await item.publish()


class _Message:
    def __init__(self, tp: TP, offset: int) -> None:
        self.tp, self.offset = tp, offset


class _Event:
    def __init__(self, tp: TP, offset: int) -> None:
        self.message = _Message(tp, offset)


def test_in_flight_names_the_first_input_taken_and_not_finished() -> None:
    from agents.core.transactions import InFlight

    tracker = InFlight()
    events = [_Event(TP0, n) for n in (4, 5, 6)]
    tracker.begin(events)  # type: ignore[arg-type]
    tracker.finish(events[0])  # type: ignore[arg-type]
    tracker.finish(events[2])  # type: ignore[arg-type]
    # Offset 5 was taken and not finished: a commit up to 7 would skip it, so the manager refuses (see commit).
    assert tracker.first_open(TP0) == 5 and tracker.first_open(TP1) is None
    tracker.forget({TP0})
    assert tracker.first_open(TP0) is None


class _Delivered(_Message):
    acked = False


def test_a_delivered_input_no_stream_has_taken_yet_holds_the_commit_back() -> None:
    # Faust's _new_offset accepts a one-offset gap at the head of the acknowledged list: with 10 waiting in a
    # stream's buffer and 11, 12 acknowledged, it asks to commit 13. The tracker must name 10 as unfinished.
    from agents.core.transactions import InFlight

    tracker = InFlight()
    messages = [_Delivered(TP0, n) for n in (10, 11, 12)]
    for message in messages:
        tracker.deliver(message)  # type: ignore[arg-type]
    messages[1].acked = messages[2].acked = True
    assert tracker.first_unfinished(TP0) == 10
    messages[0].acked = True
    assert tracker.first_unfinished(TP0) is None
    assert tracker.first_unfinished(TP1) is None


def test_an_acknowledged_input_still_being_answered_holds_the_commit_back() -> None:
    from agents.core.transactions import InFlight

    tracker = InFlight()
    messages = [_Delivered(TP0, n) for n in (3, 4)]
    events = [_Event(TP0, n) for n in (3, 4)]
    for message in messages:
        tracker.deliver(message)  # type: ignore[arg-type]
    tracker.begin(events)  # type: ignore[arg-type]
    for message in messages:
        message.acked = True  # take_events acknowledged the micro-batch, the answer is not made yet
    assert tracker.first_unfinished(TP0) == 3
    tracker.finish(events[0])  # type: ignore[arg-type]
    assert tracker.first_unfinished(TP0) == 4
    tracker.finish(events[1])  # type: ignore[arg-type]
    assert tracker.first_unfinished(TP0) is None
    tracker.deliver(_Delivered(TP0, 5))  # type: ignore[arg-type]
    tracker.forget({TP0})  # revoked: the new owner reads it again
    assert tracker.first_unfinished(TP0) is None


def test_a_finished_input_that_may_go_early_is_released_past_an_unfinished_one() -> None:
    from agents.core.transactions import InFlight

    tracker = InFlight()
    events = [_Event(TP0, n) for n in (4, 5, 6, 7)]
    tracker.begin(events)  # type: ignore[arg-type]
    tracker.finish(events[2], release_early=True)  # type: ignore[arg-type]  # 6: answered, recognisable if repeated
    tracker.finish(events[3])  # type: ignore[arg-type]  # 7: finished, but its repeat would not be recognised
    assert tracker.first_open(TP0) == 4 and tracker.releasable(TP0, 4) == [6]
    log: list[str] = []
    outbox = Outbox()
    for offset in (4, 5, 6, 7):
        outbox.hold(TP0, offset, held(f"out-{offset}", log))
    asyncio.run(_publish_all(outbox.release(TP0, 4) + outbox.release_offsets(TP0, tracker.releasable(TP0, 4))))
    tracker.released(TP0, [6])
    assert log == ["out-6"] and tracker.releasable(TP0, 4) == []
    # Once 4 and 5 finish the offset commits past all four: 6's outputs are not released a second time.
    tracker.finish(events[0])  # type: ignore[arg-type]
    tracker.finish(events[1])  # type: ignore[arg-type]
    asyncio.run(_publish_all(outbox.release(TP0, 8)))
    assert log == ["out-6", "out-4", "out-5", "out-7"] and len(outbox) == 0


def test_early_offsets_below_the_commit_are_forgotten() -> None:
    from agents.core.transactions import InFlight

    tracker = InFlight()
    events = [_Event(TP0, n) for n in (1, 2)]
    tracker.begin(events)  # type: ignore[arg-type]
    tracker.finish(events[1], release_early=True)  # type: ignore[arg-type]
    assert tracker.releasable(TP0, 3) == []  # the commit passed it: its outputs go the ordinary way
    tracker.forget({TP0})
    assert tracker.releasable(TP0, 0) == []
