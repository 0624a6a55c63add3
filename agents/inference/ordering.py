"""Requests of one session answered one after another, in the order they were read; sessions side by side.

Why not several Faust actors with a lock per session (what ran before): actors take messages from the topic
interleaved, and whichever actor reaches a session's lock first goes first. A client that sent turns 0-7 of a
session at once had turn 3 answered before turn 0, each turn with the wrong history (seen in `sluice bench chat`:
a session's answers came back in the order 3, 7, 0, 4, 2, 6, 1, 5). One reader hands requests here in offset
order; a session's requests are all in one partition (the key is the session id), so offset order is turn order.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

E = TypeVar("E")


class SessionQueues(Generic[E]):
    """A queue per session, each drained by a task of its own; `put` waits while `max_in_flight` items are taken
    and not finished (back-pressure: the reader stops taking from Kafka).

    `handle` must not raise: an exception is handed to `on_error`, and the session's later items still run.
    """

    def __init__(
        self,
        handle: Callable[[E], Awaitable[None]],
        *,
        max_in_flight: int,
        on_error: Callable[[E, Exception], None],
    ) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {max_in_flight}")
        self._handle = handle
        self._on_error = on_error
        self._room = asyncio.Semaphore(max_in_flight)
        self._queues: dict[str, deque[E]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        """Items taken and not finished, running or waiting for their session's earlier items."""
        return sum(len(queue) for queue in self._queues.values())

    def sessions(self) -> int:
        """Sessions with an item running or waiting."""
        return len(self._queues)

    async def put(self, session: str, item: E) -> None:
        """Queue `item` behind the session's earlier items; returns once it is queued, not when it is handled."""
        await self._room.acquire()
        queue = self._queues.get(session)
        if queue is not None:  # the session's task is running: it takes this one after those before it
            queue.append(item)
            return
        self._queues[session] = deque([item])
        task = asyncio.create_task(self._drain(session), name=f"session-{session}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drain(self, session: str) -> None:
        queue = self._queues[session]
        try:
            while queue:
                item = queue[0]
                try:
                    await self._handle(item)
                except Exception as exc:
                    self._on_error(item, exc)
                queue.popleft()
                self._room.release()
        finally:
            # Cancelled (the worker stops): what is still queued is never handled here; its room is given back so
            # that a put waiting for room is not stuck behind it.
            for _ in queue:
                self._room.release()
            del self._queues[session]

    async def close(self) -> None:
        """Cancel every session's task and wait until they have stopped."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
