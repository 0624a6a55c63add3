"""The per-batch time budget: a batch past it makes the worker exit; a backstop that needs no GIL is armed for the
earliest deadline. A fake clock and a fake backstop stand in for time and faulthandler."""

from __future__ import annotations

import threading
import time

from agents.core.watchdog import BatchWatchdog


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeBackstop:
    def __init__(self) -> None:
        self.armed: float | None = None
        self.history: list[float | None] = []

    def arm(self, seconds: float) -> None:
        self.armed = seconds
        self.history.append(seconds)

    def disarm(self) -> None:
        self.armed = None
        self.history.append(None)


def watchdog(clock: FakeClock, overruns: list[tuple[str, float, float]], backstop: FakeBackstop) -> BatchWatchdog:
    return BatchWatchdog(
        120.0,
        on_overrun=lambda stage, elapsed, budget: overruns.append((stage, elapsed, budget)),
        backstop=backstop,
        backstop_grace_s=30.0,
        clock=clock,
        check_every_s=None,
    )


def test_a_batch_within_its_budget_is_left_alone_and_one_past_it_ends_the_worker() -> None:
    clock, overruns, backstop = FakeClock(), [], FakeBackstop()
    dog = watchdog(clock, overruns, backstop)
    with dog.watching("deidentify"):
        clock.now += 119
        dog.check()
        assert overruns == []
        clock.now += 2
        dog.check()
        assert overruns == [("deidentify", 121.0, 120.0)]
    overruns.clear()
    clock.now += 500
    dog.check()
    assert overruns == [], "a finished batch is no longer watched"


def test_the_backstop_is_armed_for_the_earliest_deadline_and_disarmed_when_idle() -> None:
    clock, overruns, backstop = FakeClock(), [], FakeBackstop()
    dog = watchdog(clock, overruns, backstop)
    with dog.watching("deidentify"):
        assert backstop.armed == 150.0  # budget + grace
        clock.now += 100
        with dog.watching("index"):
            assert backstop.armed == 50.0, "still the first batch's deadline"
        assert backstop.armed == 50.0
    assert backstop.armed is None


def test_the_longest_running_of_several_overdue_batches_is_named() -> None:
    clock, overruns, backstop = FakeClock(), [], FakeBackstop()
    dog = watchdog(clock, overruns, backstop)
    with dog.watching("index"):
        clock.now += 10
        with dog.watching("deidentify"):
            clock.now += 200
            dog.check()
    assert overruns == [("index", 210.0, 120.0)]


def test_the_watcher_thread_notices_a_stage_that_overruns_while_it_releases_the_gil() -> None:
    noticed = threading.Event()
    dog = BatchWatchdog(0.05, on_overrun=lambda *_: noticed.set(), check_every_s=0.01)
    with dog.watching("deidentify"):
        deadline = time.monotonic() + 10
        while not noticed.is_set() and time.monotonic() < deadline:
            sum(range(10_000))  # pure-Python work: the GIL changes hands between bytecodes
    assert noticed.is_set()


async def test_the_batch_runner_puts_every_stage_run_under_the_budget() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from agents.core.runner import BatchRunner
    from agents.core.stage import StageOutcome

    overruns: list[str] = []

    class SlowStage:
        name = "slow"

        def run(self, batch: object) -> StageOutcome[object]:
            deadline = time.monotonic() + 10
            while not overruns and time.monotonic() < deadline:
                time.sleep(0.01)
            return StageOutcome()

    dog = BatchWatchdog(0.05, on_overrun=lambda stage, *_: overruns.append(stage), check_every_s=0.01)
    runner = BatchRunner(None, None, watchdog=dog)  # type: ignore[arg-type]  # nothing is dead-lettered here
    with ThreadPoolExecutor(1) as executor:
        await runner._run_stage(SlowStage(), executor, [])  # type: ignore[arg-type]
    assert overruns and overruns[0] == "slow"
