"""SessionQueues: a session's items one after another in the order put, sessions side by side, bounded room."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from agents.inference.ordering import SessionQueues

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def test_a_sessions_items_run_in_the_order_put_even_when_later_ones_would_finish_first() -> None:
    async def scenario() -> dict[str, list[int]]:
        done: dict[str, list[int]] = {}
        rng = random.Random(3)

        async def handle(item: tuple[str, int]) -> None:
            session, turn = item
            # Earlier turns take longer: any concurrency within a session would finish them out of order.
            await asyncio.sleep(rng.uniform(0.001, 0.004) * (8 - turn))
            done.setdefault(session, []).append(turn)

        queues: SessionQueues[tuple[str, int]] = SessionQueues(handle, max_in_flight=64, on_error=_no_errors)
        for turn in range(8):
            for session in ("a", "b", "c"):
                await queues.put(session, (session, turn))
        while len(queues):
            await asyncio.sleep(0.005)
        return done

    assert run(scenario()) == {s: list(range(8)) for s in ("a", "b", "c")}


def test_sessions_are_handled_side_by_side() -> None:
    async def scenario() -> int:
        running = 0
        most = 0
        release = asyncio.Event()

        async def handle(item: str) -> None:
            nonlocal running, most
            running += 1
            most = max(most, running)
            await release.wait()
            running -= 1

        queues: SessionQueues[str] = SessionQueues(handle, max_in_flight=64, on_error=_no_errors)
        for session in range(5):
            await queues.put(f"s{session}", f"s{session}")
            await queues.put(f"s{session}", f"s{session}-second")
        await asyncio.sleep(0.01)
        release.set()
        while len(queues):
            await asyncio.sleep(0.005)
        return most

    assert run(scenario()) == 5  # one per session at a time, every session at once


def test_put_waits_while_max_in_flight_items_are_unfinished() -> None:
    async def scenario() -> tuple[bool, bool]:
        release = asyncio.Event()

        async def handle(item: int) -> None:
            await release.wait()

        queues: SessionQueues[int] = SessionQueues(handle, max_in_flight=2, on_error=_no_errors)
        await queues.put("a", 1)
        await queues.put("b", 2)
        third = asyncio.create_task(queues.put("c", 3))
        await asyncio.sleep(0.02)
        blocked = not third.done()
        release.set()
        await asyncio.wait_for(third, 1)
        return blocked, third.done()

    assert run(scenario()) == (True, True)


def test_a_failing_item_is_reported_and_the_sessions_later_items_still_run() -> None:
    async def scenario() -> tuple[list[int], list[tuple[int, str]]]:
        handled: list[int] = []
        errors: list[tuple[int, str]] = []

        async def handle(item: int) -> None:
            if item == 1:
                raise RuntimeError("boom")
            handled.append(item)

        queues: SessionQueues[int] = SessionQueues(
            handle, max_in_flight=1, on_error=lambda item, exc: errors.append((item, str(exc)))
        )
        for item in range(3):
            await queues.put("a", item)  # room 1: each put waits for the one before to finish, failure included
        while len(queues):
            await asyncio.sleep(0.005)
        return handled, errors

    assert run(scenario()) == ([0, 2], [(1, "boom")])


def test_close_cancels_what_runs_and_gives_back_the_room_of_what_waits() -> None:
    async def scenario() -> tuple[int, int, bool]:
        started: list[int] = []

        async def handle(item: int) -> None:
            started.append(item)
            await asyncio.sleep(10)

        queues: SessionQueues[int] = SessionQueues(handle, max_in_flight=3, on_error=_no_errors)
        for item in range(3):
            await queues.put("a", item)
        await asyncio.sleep(0.01)
        await queues.close()
        # Everything's room is back: three more puts go through at once.
        for item in range(3):
            await asyncio.wait_for(queues.put("b", item), 0.5)
        stopped = len(queues) == 3 and queues.sessions() == 1
        await queues.close()
        return len(started), len(queues), stopped

    assert run(scenario()) == (2, 0, True)  # "a" ran its first item only; "b" started its first before close


def test_max_in_flight_must_be_positive() -> None:
    async def handle(item: int) -> None:
        return None

    with pytest.raises(ValueError, match="max_in_flight"):
        SessionQueues(handle, max_in_flight=0, on_error=_no_errors)


def _no_errors(item: object, exc: Exception) -> None:
    raise AssertionError(f"unexpected failure of {item!r}: {exc!r}")
