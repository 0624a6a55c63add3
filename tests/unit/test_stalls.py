"""The stall journal: a batch a worker died in is retried record by record; a record that was running alone when
a worker died is dead-lettered as having stalled a worker twice. A fake stage stands in for a real one, and a
thread left blocked stands in for a worker that died (its journal file is what the next run finds)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from faust.types import TP

from agents.core.audit import AuditEmitter
from agents.core.dead_letters import DeadLetterBuilder, DeadLetterWriter
from agents.core.messages import SourcePosition
from agents.core.runner import BatchRunner
from agents.core.stage import StageOutcome
from agents.core.stalls import StallJournal, journal_path
from topics.specs import INGEST_DLQ

TOPIC = "stalls.test.v1"
POISON = b"POISON"


def at(offset: int, partition: int = 0) -> SourcePosition:
    return SourcePosition(TOPIC, partition, offset, f"k{offset}".encode(), b"record %d" % offset)


# --- the journal on its own -------------------------------------------------------------------------------------


def test_a_clean_batch_leaves_no_file_behind(tmp_path: Path) -> None:
    path = journal_path(tmp_path, "deidentify-0")
    journal = StallJournal(path)
    batch = [at(0), at(1)]
    assert journal.triage("deidentify", batch).alone is False
    with journal.running("deidentify", batch, alone=False):
        marked = json.loads(path.read_text())
        assert marked["running"] == [
            {"stage": "deidentify", "alone": False, "positions": [[TOPIC, 0, 0], [TOPIC, 0, 1]]}
        ]
    assert not path.exists()


def test_a_batch_the_previous_run_died_in_runs_record_by_record_then_is_forgotten(tmp_path: Path) -> None:
    path = journal_path(tmp_path, "deidentify-0")
    dead = StallJournal(path)
    with dead.running("deidentify", [at(5), at(6)], alone=False):
        restarted = StallJournal(path)  # the process died here: the next one reads the file
    triage = restarted.triage("deidentify", [at(5), at(6), at(7)])
    assert (triage.convicted, triage.to_run, triage.alone) == ([], [at(5), at(6), at(7)], True)
    for position in triage.to_run:
        with restarted.running("deidentify", [position], alone=True):
            pass
    assert restarted.triage("deidentify", [at(5)]).alone is False
    assert not path.exists()


def test_a_record_running_alone_at_the_second_death_is_convicted(tmp_path: Path) -> None:
    path = journal_path(tmp_path, "deidentify-0")
    first = StallJournal(path)
    with first.running("deidentify", [at(5), at(6), at(7)], alone=False):
        second = StallJournal(path)
    with second.running("deidentify", [at(5)], alone=True):
        pass
    with second.running("deidentify", [at(6)], alone=True):
        third = StallJournal(path)
    triage = third.triage("deidentify", [at(5), at(6), at(7)])
    assert triage.convicted == [at(6)]
    assert (triage.to_run, triage.alone) == ([at(5), at(7)], True)  # 7 was never run alone: still a suspect
    assert third.triage("index", [at(6)]).convicted == [], "journals are per stage"


def test_an_exit_that_is_not_the_inputs_fault_leaves_no_suspects(tmp_path: Path) -> None:
    path = journal_path(tmp_path, "deidentify-0")
    journal = StallJournal(path)
    with journal.running("deidentify", [at(1)], alone=False):
        journal.forget_running()  # the broker stayed down: the worker exits for restart
        restarted = StallJournal(path)
    assert restarted.triage("deidentify", [at(1)]).alone is False


def test_records_a_partition_has_moved_past_are_forgotten(tmp_path: Path) -> None:
    path = journal_path(tmp_path, "deidentify-0")
    first = StallJournal(path)
    with first.running("deidentify", [at(3), at(4, partition=1)], alone=False):
        second = StallJournal(path)
    # Partition 0 now starts at 9: offset 3 was committed (here or by another worker) and will not come back.
    assert second.triage("deidentify", [at(9)]).alone is False
    assert second.triage("deidentify", [at(3)]).alone is False
    assert second.triage("deidentify", [at(4, partition=1)]).alone is True


def test_an_unreadable_journal_is_ignored(tmp_path: Path) -> None:
    path = journal_path(tmp_path, "deidentify-0")
    path.write_text('{"running": [{"stage": "deidentify", "alone": tr')
    assert StallJournal(path).triage("deidentify", [at(1)]).alone is False


# --- the batch runner with a fake stage -------------------------------------------------------------------------


@dataclass
class FakeMessage:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None

    @property
    def tp(self) -> TP:
        return TP(self.topic, self.partition)


@dataclass
class FakeEvent:
    message: FakeMessage


@dataclass(frozen=True)
class Done:
    position: SourcePosition


@dataclass
class HangingStage:
    """Returns one result per record; a POISON record blocks its thread until released (a stall that never ends
    on its own, like a worker stuck in a regex)."""

    name: str = "fake"
    calls: list[list[int]] = field(default_factory=list)
    stuck: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def run(self, batch: Sequence[SourcePosition]) -> StageOutcome[Done]:
        self.calls.append([p.offset for p in batch])
        if any(p.value == POISON for p in batch):
            self.stuck.set()
            self.release.wait()
        return StageOutcome(results=[Done(p) for p in batch])


def events(values: Sequence[bytes], first: int = 0) -> list[Any]:
    return [
        FakeEvent(FakeMessage(TOPIC, 0, offset, f"k{offset}".encode(), v)) for offset, v in enumerate(values, first)
    ]


@dataclass
class Worker:
    """One run of a worker process: its runner, its stage thread and what it sent."""

    runner: BatchRunner
    stage: HangingStage
    sent: list[tuple[str, bytes | None, bytes]]
    results: list[int]
    executor: ThreadPoolExecutor


@pytest.fixture
async def start_worker(tmp_path: Path) -> AsyncIterator[Any]:
    started: list[Worker] = []

    def start() -> Worker:
        sent: list[tuple[str, bytes | None, bytes]] = []

        async def send(topic: str, key: bytes | None, value: bytes) -> None:
            sent.append((topic, key, value))

        runner = BatchRunner(
            DeadLetterWriter(DeadLetterBuilder(b"k" * 32, b"d" * 32), INGEST_DLQ.name, send),
            AuditEmitter(send),
            journal=StallJournal(journal_path(tmp_path, "deidentify-0")),
        )
        worker = Worker(runner, HangingStage(), sent, [], ThreadPoolExecutor(1))
        started.append(worker)
        return worker

    yield start
    for worker in started:  # the "dead" workers' threads are still blocked: let them go
        worker.stage.release.set()
        worker.executor.shutdown(wait=True)


async def run_batch(worker: Worker, batch: list[Any]) -> None:
    async def on_result(result: Done) -> None:
        worker.results.append(result.position.offset)

    await worker.runner.run(worker.stage, worker.executor, batch, on_result)


async def die_in(worker: Worker, batch: list[Any]) -> asyncio.Task[None]:
    """Run the batch until the stage is stuck on the poison record; the worker counts as dead from then on."""
    task = asyncio.create_task(run_batch(worker, batch))
    assert await asyncio.to_thread(worker.stage.stuck.wait, 10)
    return task


async def test_a_record_that_stalls_a_worker_twice_is_dead_lettered_and_the_rest_go_through(start_worker: Any) -> None:
    batch = events([b"a", b"b", POISON, b"c"])
    first = start_worker()
    hung_first = await die_in(first, batch)
    assert first.stage.calls == [[0, 1, 2, 3]]

    # Kafka redelivers the unacknowledged batch to the restarted worker, which runs it one record at a time.
    second = start_worker()
    hung_second = await die_in(second, batch)
    assert second.stage.calls == [[0], [1], [2]]
    assert second.results == [], "outputs are sent once the whole batch is done"

    # Found in the journal a second time: dead-lettered without being run; the others run alone and go through.
    third = start_worker()
    await run_batch(third, batch)
    assert third.stage.calls == [[0], [1], [3]]
    assert third.results == [0, 1, 3]
    letters = [json.loads(value) for topic, _, value in third.sent if topic == INGEST_DLQ.name]
    (letter,) = letters
    assert (letter["source_topic"], letter["partition"], letter["offset"]) == (TOPIC, 0, 2)
    assert (letter["error_type"], letter["stage"], letter["attempt"]) == ("StalledWorkerError", "fake", 2)
    assert letter["error_message"].startswith(
        f"stalled a worker twice (stage fake, topic {TOPIC}, partition 0, offset 2)"
    )
    for hung in (hung_first, hung_second):
        hung.cancel()


async def test_without_a_stall_batches_run_whole(start_worker: Any) -> None:
    worker = start_worker()
    await run_batch(worker, events([b"a", b"b"]))
    await run_batch(worker, events([b"c", b"d", b"e"], first=2))
    assert worker.stage.calls == [[0, 1], [2, 3, 4]]
    assert worker.results == [0, 1, 2, 3, 4]
    assert worker.sent == [], "no dead letter, no audit event of one"
