"""Test doubles for the batcher: a hand-driven clock and a recording model that can be held busy."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence

from models.batching import WorkItem

# Generous: these bound how long a test may hang on a bug, they are not performance claims.
PATIENCE_S = 5.0


class FakeClock:
    """A clock that only moves when the test says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordingModel:
    """run_batch double: records every batch and answers `version:payload`; `hold()` keeps it busy until `release()`."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, list[str]]] = []
        self._gate = threading.Event()
        self._gate.set()

    def hold(self) -> None:
        self._gate.clear()

    def release(self) -> None:
        self._gate.set()

    def __call__(self, version: str, payloads: Sequence[str]) -> list[str]:
        self.batches.append((version, list(payloads)))
        self._gate.wait(timeout=PATIENCE_S)
        return [f"{version}:{p}" for p in payloads]

    def payloads_run(self) -> list[str]:
        return [p for _, ps in self.batches for p in ps]


def item(
    payload: str,
    *,
    version: str = "v1",
    priority: int = 0,
    cost: int = 1,
    deadline: float | None = None,
) -> WorkItem[str]:
    return WorkItem(payload=payload, model_version=version, priority=priority, cost_tokens=cost, deadline=deadline)


async def wait_until(predicate: Callable[[], bool], what: str) -> None:
    """Yield to the loop until `predicate` holds; fail (not hang) if it never does."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + PATIENCE_S
    while not predicate():
        if loop.time() > give_up:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.001)


async def settle(seconds: float = 0.05) -> None:
    """Let the scheduler run several sweeps, to show that something does NOT happen on its own."""
    await asyncio.sleep(seconds)
