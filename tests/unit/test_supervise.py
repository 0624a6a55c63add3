"""The keep-alive supervisor: restarts a worker that dies, kills (SIGKILL) and restarts one whose heartbeat stops,
and gives a starting worker longer. A fake clock and fake child processes stand in for time and subprocess; the
heartbeat is a real file whose modification time the fake workers set."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from agents.processes.supervise import HeartbeatWatch, Supervisor


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class FakeWorker:
    """Beats (touches the heartbeat file) while `beating(now)` says so; exits with `exit_status` at `exit_at`."""

    heartbeat: Path
    clock: FakeClock
    beating: Callable[[float], bool]
    exit_at: float | None = None
    exit_status: int = 0
    pid: int = 4242
    killed: bool = False
    signals: list[int] = field(default_factory=list)
    started_at: float = 0.0
    beats: int = 0

    def poll(self) -> int | None:
        if self.killed:
            return -signal.SIGKILL
        if self.exit_at is not None and self.clock.now >= self.exit_at:
            return self.exit_status
        if self.beating(self.clock.now - self.started_at):
            self.beats += 1
            mtime = 1_700_000_000_000_000_000 + self.beats * 1_000_000  # changes with every beat
            self.heartbeat.touch()
            os.utime(self.heartbeat, ns=(mtime, mtime))
        return None

    def wait(self) -> int:
        status = self.poll()
        assert status is not None, "the supervisor waits only for a child that has exited or was killed"
        return status

    def kill(self) -> None:
        self.killed = True

    def send_signal(self, signum: int) -> None:
        self.signals.append(signum)


def supervisor_for(
    tmp_path: Path, clock: FakeClock, workers: Sequence[FakeWorker]
) -> tuple[Supervisor, list[FakeWorker]]:
    started: list[FakeWorker] = []
    pending = list(workers)

    def start(command: Sequence[str]) -> FakeWorker:
        worker = pending.pop(0)
        worker.started_at = clock.now
        started.append(worker)
        return worker

    watch = HeartbeatWatch(tmp_path / "deidentify-0.heartbeat", timeout_s=90.0, startup_s=600.0)
    supervisor = Supervisor(["worker"], watch=watch, start=start, clock=clock, sleep=clock.sleep, poll_s=1.0)
    return supervisor, started


def test_a_worker_whose_heartbeat_stops_is_killed_and_restarted(tmp_path: Path) -> None:
    clock, beat = FakeClock(), tmp_path / "deidentify-0.heartbeat"
    hung = FakeWorker(beat, clock, beating=lambda age: age < 30)  # stuck holding the GIL after 30 s
    healthy = FakeWorker(beat, clock, beating=lambda age: True, exit_at=10_000)
    supervisor, started = supervisor_for(tmp_path, clock, [hung, healthy])
    assert supervisor.run() == 0
    assert started == [hung, healthy]
    assert hung.killed and not healthy.killed
    assert supervisor.hang_kills == 1
    # Killed once the last beat (at about 30 s) was more than 90 s old: not before, and not much after.
    assert 120 <= healthy.started_at <= 125 + 1  # + the 1 s back-off


def test_a_starting_worker_gets_the_start_up_grace_before_its_first_beat(tmp_path: Path) -> None:
    clock, beat = FakeClock(), tmp_path / "deidentify-0.heartbeat"
    slow_start = FakeWorker(beat, clock, beating=lambda age: age > 500, exit_at=2_000)  # models load for 500 s
    supervisor, started = supervisor_for(tmp_path, clock, [slow_start])
    assert supervisor.run() == 0
    assert not slow_start.killed and started == [slow_start]


def test_a_worker_that_never_beats_is_killed_after_the_start_up_grace(tmp_path: Path) -> None:
    clock, beat = FakeClock(), tmp_path / "deidentify-0.heartbeat"
    beat.touch()  # left by the previous worker of this slot: not a sign of life of the new one
    silent = FakeWorker(beat, clock, beating=lambda age: False)
    then_fine = FakeWorker(beat, clock, beating=lambda age: True, exit_at=clock.now + 5_000)
    supervisor, started = supervisor_for(tmp_path, clock, [silent, then_fine])
    assert supervisor.run() == 0
    assert started == [silent, then_fine]
    assert silent.killed and 600 < then_fine.started_at <= 603


def test_a_worker_that_keeps_beating_is_never_killed(tmp_path: Path) -> None:
    clock, beat = FakeClock(), tmp_path / "deidentify-0.heartbeat"
    steady = FakeWorker(beat, clock, beating=lambda age: int(age) % 5 == 0, exit_at=3_600)
    supervisor, _ = supervisor_for(tmp_path, clock, [steady])
    assert supervisor.run() == 0 and not steady.killed and supervisor.hang_kills == 0


def test_a_worker_that_exits_for_restart_is_started_again(tmp_path: Path) -> None:
    clock, beat = FakeClock(), tmp_path / "deidentify-0.heartbeat"
    exits = FakeWorker(beat, clock, beating=lambda age: True, exit_at=50, exit_status=75)
    stays = FakeWorker(beat, clock, beating=lambda age: True, exit_at=200)
    supervisor, started = supervisor_for(tmp_path, clock, [exits, stays])
    assert supervisor.run() == 0
    assert started == [exits, stays] and not exits.killed


def test_stopping_forwards_the_signal_and_ends_supervision(tmp_path: Path) -> None:
    clock, beat = FakeClock(), tmp_path / "deidentify-0.heartbeat"
    worker = FakeWorker(beat, clock, beating=lambda age: True)
    supervisor, _ = supervisor_for(tmp_path, clock, [worker])
    original_sleep = clock.sleep

    def sleep_then_stop(seconds: float) -> None:
        original_sleep(seconds)
        if clock.now >= 10 and not supervisor.stopping:
            supervisor.stop(signal.SIGTERM)
            worker.exit_at = clock.now  # the worker shuts down on SIGTERM

    supervisor.sleep = sleep_then_stop
    assert supervisor.run() == 0
    assert worker.signals == [signal.SIGTERM] and not worker.killed
