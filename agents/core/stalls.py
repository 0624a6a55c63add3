"""The stall journal: which inputs a worker was running when it died, so that an input that stalls a worker twice
is dead-lettered instead of being redelivered to every restarted worker forever.

Before a stage runs a batch, the batch runner writes the batch's positions (topic, partition, offset) to a small
JSON file under var/run, one per worker slot; a clean finish takes them out again. A worker that starts and finds
positions there knows the previous run died inside that batch (time budget, heartbeat kill, crash). It marks them
suspects and, when Kafka redelivers them, runs every record of such a batch alone, each with its own marker. A
record found in the file a second time (it was running alone when the worker died again) is convicted: it is
dead-lettered as "stalled a worker twice" without being run.

An exit the worker declares not to be the input's fault (infrastructure unavailable) forgets what was running
first. The journal is per slot: a record that moves to another worker after a rebalance starts afresh there, so a
poison record costs at most two deaths per worker it reaches.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import structlog

from agents.core.dead_letters import StageFailure
from agents.core.messages import SourcePosition
from agents.core.stage import unexpected_failure
from schemas.errors import StalledWorkerError

log = structlog.get_logger(__name__)

Where = tuple[str, int, int]  # topic, partition, offset
STALLED_TWICE = "stalled a worker twice"


def journal_path(run_dir: Path, slot: str) -> Path:
    return run_dir / f"{slot}.inflight.json"


def where(position: SourcePosition) -> Where:
    return position.topic, position.partition, position.offset


def stalled_twice(position: SourcePosition, stage: str) -> StageFailure:
    """The dead letter of a convicted record: where it is, and that it was not run a third time."""
    error = StalledWorkerError(
        f"{STALLED_TWICE} (stage {stage}, topic {position.topic}, partition {position.partition}, "
        f"offset {position.offset}): it was running when the worker died, twice; not run again",
        stage=stage,
    )
    return replace(unexpected_failure(position, stage, error), attempt=2)


@dataclass(frozen=True)
class Triage:
    """What to do with a batch: dead-letter the convicted, run the rest, one record at a time if `alone`."""

    convicted: list[SourcePosition]
    to_run: list[SourcePosition]
    alone: bool


@dataclass(frozen=True)
class _Entry:
    stage: str
    positions: tuple[Where, ...]
    alone: bool


class StallJournal:
    """One worker slot's journal file; safe to use from several agents of one process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._running: dict[int, _Entry] = {}
        self._next_token = 0
        self._suspects: dict[str, set[Where]] = {}
        self._convicted: dict[str, set[Where]] = {}
        self._load()

    # --- what the previous run left ---------------------------------------------------------------------------

    def _load(self) -> None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            # Half-written by a machine crash: nothing to learn from it, and nothing to hold up the start for.
            log.warning("stall_journal_unreadable", path=str(self.path), error_type=type(exc).__name__)
            data = {}
        for stage, items in _mapping(data.get("suspects")).items():
            self._suspects.setdefault(stage, set()).update(_wheres(items))
        for stage, items in _mapping(data.get("convicted")).items():
            self._convicted.setdefault(stage, set()).update(_wheres(items))
        died_in = data.get("running") if isinstance(data.get("running"), list) else []
        for entry in died_in:
            if not isinstance(entry, dict) or not isinstance(entry.get("stage"), str):
                continue
            stage, positions = entry["stage"], _wheres(entry.get("positions"))
            # Running alone when the worker died: the second time this record was there. Else a first time.
            target = self._convicted if entry.get("alone") is True else self._suspects
            target.setdefault(stage, set()).update(positions)
            log.warning(
                "worker_died_in_batch",
                stage=stage,
                records=len(positions),
                alone=entry.get("alone") is True,
                positions=[list(p) for p in positions[:20]],
            )
        for stage, convicted in self._convicted.items():
            self._suspects.get(stage, set()).difference_update(convicted)
        with self._lock:
            self._save()

    # --- per batch ---------------------------------------------------------------------------------------------

    def triage(self, stage: str, positions: Sequence[SourcePosition]) -> Triage:
        """Sort a batch: convicted records, and whether the rest must run one by one (a suspect is among them)."""
        with self._lock:
            self._forget_passed(stage, positions)
            convicted = self._convicted.get(stage, set())
            suspects = self._suspects.get(stage, set())
            guilty = [p for p in positions if where(p) in convicted]
            rest = [p for p in positions if where(p) not in convicted]
            return Triage(guilty, rest, any(where(p) in suspects for p in rest))

    @contextmanager
    def running(self, stage: str, positions: Sequence[SourcePosition], *, alone: bool) -> Iterator[None]:
        """Mark `positions` as running in `stage` for the block; a clean end (or an exception) clears the mark,
        and records run alone are no longer suspects. A death inside the block leaves the mark in the file."""
        entry = _Entry(stage, tuple(where(p) for p in positions), alone)
        with self._lock:
            token = self._next_token
            self._next_token += 1
            self._running[token] = entry
            self._save()
        try:
            yield
        finally:
            with self._lock:
                self._running.pop(token, None)
                if alone:
                    self._suspects.get(stage, set()).difference_update(entry.positions)
                self._save()

    def forget_running(self) -> None:
        """The worker is about to exit for a reason that is not its input's fault: clear what is running."""
        with self._lock:
            self._running.clear()
            self._save()

    def _forget_passed(self, stage: str, positions: Sequence[SourcePosition]) -> None:
        # Kafka delivers a partition in order from its committed offset: once a batch of this partition starts
        # past a remembered offset, that record was committed (here or by another worker) and will not return.
        first: dict[tuple[str, int], int] = {}
        for p in positions:
            key = (p.topic, p.partition)
            first[key] = min(first.get(key, p.offset), p.offset)
        changed = False
        for remembered in (self._suspects.get(stage), self._convicted.get(stage)):
            if remembered:
                passed = {w for w in remembered if (w[0], w[1]) in first and w[2] < first[(w[0], w[1])]}
                remembered.difference_update(passed)
                changed = changed or bool(passed)
        if changed:
            self._save()

    # --- the file ----------------------------------------------------------------------------------------------

    def _save(self) -> None:
        """Write the journal (atomically), or remove it when there is nothing to remember."""
        data: dict[str, Any] = {
            "suspects": {stage: sorted(items) for stage, items in self._suspects.items() if items},
            "convicted": {stage: sorted(items) for stage, items in self._convicted.items() if items},
            "running": [
                {"stage": entry.stage, "alone": entry.alone, "positions": [list(p) for p in entry.positions]}
                for entry in self._running.values()
            ],
        }
        if not (data["suspects"] or data["convicted"] or data["running"]):
            self.path.unlink(missing_ok=True)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, self.path)


def _mapping(value: object) -> dict[str, Any]:
    return {k: v for k, v in value.items() if isinstance(k, str)} if isinstance(value, dict) else {}


def _wheres(value: object) -> list[Where]:
    out: list[Where] = []
    for item in value if isinstance(value, list) else []:
        if (
            isinstance(item, list)
            and len(item) == 3
            and isinstance(item[0], str)
            and all(isinstance(n, int) and not isinstance(n, bool) for n in item[1:])
        ):
            out.append((item[0], item[1], item[2]))
    return out
