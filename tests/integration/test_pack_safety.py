"""Rule packs cannot switch de-identification off or hang the workers, on the real broker and real workers.

- a tombstone for the base cleaning pack is dead-lettered and records are still normalised;
- a pack regex RE2 cannot run (a back-reference) is dead-lettered naming the rule;
- a worker whose event loop stops is killed and restarted by its keep-alive supervisor (heartbeat);
- a record stuck in a pack regex past the batch time budget restarts the worker twice, then is dead-lettered
  as having stalled a worker twice, and the records behind it go through.

The last two run their own de-identification worker (short budget and heartbeat bounds, its own slot) in the
session's consumer group, while the session's one makes way; it is put back afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agents.core.kafka_io import end_offsets
from agents.core.liveness import heartbeat_path
from agents.core.settings import Settings
from agents.processes import runtime
from agents.processes.broker import pid_alive
from models.cleaning import load_bundled_packs
from schemas.records import RulePackMessage
from tests.integration.conftest import wait_for
from tests.integration.helpers import event, key_digest, produce, values, worker_child

STALL_SLOT = "deidentify-stall"
BUDGET_S = 15
HEARTBEAT_TIMEOUT_S = 20


def crm(event_id: str, tenant: str, notes: str) -> tuple[str, bytes, bytes]:
    payload = {"customer_id": "C-1", "channel": "phone", "notes": notes}
    return ("crm.events.v1", event_id.encode(), event(event_id, tenant, payload))


def deidentified(bootstrap: str, tenant: str, event_id: str) -> dict[str, Any] | None:
    return next(
        (
            r
            for r in values(bootstrap, "records.deidentified.v1", tenant=tenant)
            if r["lineage"]["event_id"] == event_id
        ),
        None,
    )


def letters_about(bootstrap: str, topic: str, offset: int) -> list[dict[str, Any]]:
    return [d for d in values(bootstrap, "ingest.dlq.v1") if (d["source_topic"], d["offset"]) == (topic, offset)]


def publish_pack(bootstrap: str, name: str, pack: dict[str, Any] | None) -> int:
    """Put a cleaning pack message on rules.v1; its offset."""
    message = RulePackMessage(name=name, pack=pack)
    produce(bootstrap, [("rules.v1", name.encode(), message.model_dump_json().encode())])
    return end_offsets(bootstrap, "rules.v1")[0] - 1


# --- base protection and refused patterns (the session's worker) -------------------------------------------------


def test_a_tombstone_for_base_is_dead_lettered_and_records_stay_normalised(
    sluice_up: dict[str, Any], bootstrap: str, tenant: str
) -> None:
    produce(bootstrap, [("rules.v1", b"base", None)])
    offset = end_offsets(bootstrap, "rules.v1")[0] - 1
    try:
        letters = wait_for(lambda: letters_about(bootstrap, "rules.v1", offset), timeout_s=90)  # one per worker
        for letter in letters:
            assert letter["error_type"] == "RulePackError" and "cannot be removed" in letter["error_message"]
        produce(bootstrap, [crm(f"{tenant}-zw", tenant, "客户来电，手机138\u200b1234\u200b5678，要求退货。")])
        record = wait_for(lambda: deidentified(bootstrap, tenant, f"{tenant}-zw"), timeout_s=90)
        assert record["rule_pack_version"].startswith("base@")
        assert "13812345678" not in record["text"] and "\u200b" not in record["text"]
        assert record["entity_counts"].get("CN_MOBILE", 0) >= 1
    finally:
        # The compacted topic would keep the refused tombstone, and every worker start would refuse it again:
        # the bundled base pack (identical, so accepted as a no-op) takes its place.
        base = next(p for p in load_bundled_packs() if p.name == "base")
        publish_pack(bootstrap, "base", base.to_mapping())


def test_a_pack_regex_re2_cannot_run_is_dead_lettered_naming_the_rule(
    sluice_up: dict[str, Any], bootstrap: str, tenant: str
) -> None:
    name = f"echo-{tenant}"
    rule = {"id": f"{name}.twice", "kind": "regex", "pattern": r"(\w)\1", "replacement": "x"}
    pack = {"name": name, "version": "1.0.0", "rules": [rule]}
    offset = publish_pack(bootstrap, name, pack)
    try:
        letters = wait_for(lambda: letters_about(bootstrap, "rules.v1", offset), timeout_s=90)
        for letter in letters:
            assert f"rule '{name}.twice'" in letter["error_message"]
            assert "back-references are not supported" in letter["error_message"]
    finally:
        publish_pack(bootstrap, name, None)


# --- heartbeat restarts and the stall rule (a worker of this module's own) ---------------------------------------


@dataclass
class StallWorker:
    supervisor: subprocess.Popen[bytes]
    log: Path
    heartbeat: Path

    def worker(self) -> int:
        pid: int = wait_for(lambda: worker_child(self.supervisor.pid), timeout_s=60)
        return pid

    def beating_since(self, moment: float) -> bool:
        return self.heartbeat.exists() and self.heartbeat.stat().st_mtime > moment

    def log_lines(self) -> list[dict[str, Any]]:
        lines = []
        for line in self.log.read_text(errors="replace").splitlines():
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue
        return lines


def _session_deidentify_supervisors(settings: Settings) -> list[int]:
    return [p["pid"] for p in runtime.status(settings)["processes"] if p["role"] == "deidentify"]


@pytest.fixture(scope="module")
def stall_worker(sluice_up: dict[str, Any], settings: Settings) -> Iterator[StallWorker]:
    for pid in _session_deidentify_supervisors(settings):
        os.kill(pid, signal.SIGTERM)  # the supervisor passes it on and stops
        wait_for(lambda pid=pid: not pid_alive(pid), timeout_s=60)  # type: ignore[misc]
    log = settings.run_dir / f"{STALL_SLOT}.log"
    env = {
        **os.environ,
        "SLUICE_WORKER_SLOT": STALL_SLOT,
        "SLUICE_BATCH_TIME_BUDGET_S": str(BUDGET_S),
        "SLUICE_HEARTBEAT_INTERVAL_S": "1",
        "SLUICE_HEARTBEAT_TIMEOUT_S": str(HEARTBEAT_TIMEOUT_S),
    }
    worker = [sys.executable, "-m", "agents.cli", "worker", "--role", "deidentify"]
    started = time.time()
    with log.open("ab") as out:
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "agents.processes.supervise", "--", *worker],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    stall = StallWorker(supervisor, log, heartbeat_path(settings.run_dir, STALL_SLOT))
    try:
        wait_for(lambda: stall.beating_since(started), timeout_s=240)
        yield stall
    finally:
        supervisor.send_signal(signal.SIGTERM)
        try:
            supervisor.wait(60)
        except subprocess.TimeoutExpired:
            supervisor.kill()
        runtime.up(settings, log=lambda *_: None)  # the session's de-identification worker comes back


def test_a_worker_whose_event_loop_stops_is_killed_and_restarted(stall_worker: StallWorker) -> None:
    frozen = stall_worker.worker()
    os.kill(frozen, signal.SIGSTOP)  # alive but silent, like a worker stuck holding the GIL
    stopped_at = time.time()
    replacement = wait_for(
        lambda: (pid := worker_child(stall_worker.supervisor.pid)) not in (None, frozen) and pid,
        timeout_s=HEARTBEAT_TIMEOUT_S + 60,
    )
    assert not pid_alive(frozen), "the frozen worker was killed, not left behind"
    assert replacement != frozen
    kills = [line for line in stall_worker.log_lines() if line.get("event") == "worker_unresponsive"]
    assert kills and kills[-1]["pid"] == frozen and kills[-1]["silent_s"] >= HEARTBEAT_TIMEOUT_S
    assert time.time() - stopped_at >= HEARTBEAT_TIMEOUT_S
    wait_for(lambda: stall_worker.beating_since(time.time() - 2), timeout_s=240)


def test_a_record_stuck_in_a_pack_regex_stalls_a_worker_twice_then_is_dead_lettered(
    stall_worker: StallWorker, bootstrap: str, tenant: str
) -> None:
    # Linear per search, but found at every one of 99,000 positions with a scan to the end each time (about 17 s
    # per rule here, over two minutes for the eight): far past the budget. The replacement equals the match, so
    # each rule leaves the text as it was for the next. Under the 100,000-character field limit.
    name = f"slow-{tenant}"
    rules = [
        {"id": f"{name}.{i}", "kind": "regex", "pattern": f"Ж.*{end}|Ж", "replacement": "Ж"}
        for i, end in enumerate("ЮЯЫЭЁЪЬЩ")
    ]
    publish_pack(bootstrap, name, {"name": name, "version": "1.0.0", "rules": rules})
    try:
        wait_for(lambda: applied(bootstrap, tenant, name), timeout_s=300, interval_s=1.0)
        exits_before = len(_budget_exits(stall_worker))
        poison, after = f"{tenant}-poison", f"{tenant}-after"
        # One key, so one partition: the poison first, a normal record right behind it.
        behind = ("crm.events.v1", poison.encode(), crm(after, tenant, "a normal note")[2])
        produce(bootstrap, [crm(poison, tenant, "Ж" * 99_000), behind])
        wanted = key_digest(poison.encode())

        def stalled() -> dict[str, Any] | None:
            return next(
                (
                    d
                    for d in values(bootstrap, "ingest.dlq.v1")
                    if d.get("key_sha256") == wanted and d["error_type"] == "StalledWorkerError"
                ),
                None,
            )

        letter = wait_for(stalled, timeout_s=900, interval_s=5.0)
        assert letter["source_topic"] == "crm.events.v1" and letter["stage"] == "deidentify"
        assert letter["error_message"].startswith(
            f"stalled a worker twice (stage deidentify, topic crm.events.v1, partition {letter['partition']}, "
            f"offset {letter['offset']})"
        )
        assert len(_budget_exits(stall_worker)) - exits_before >= 2, "the worker ran past its budget twice"
        record = wait_for(lambda: deidentified(bootstrap, tenant, after), timeout_s=240)
        assert "a normal note" in record["text"]
        assert deidentified(bootstrap, tenant, poison) is None, "the poison record has its dead letter only"
    finally:
        publish_pack(bootstrap, name, None)


def applied(bootstrap: str, tenant: str, pack_name: str) -> bool:
    """Whether a probe record sent now comes out cleaned by an engine that has the pack."""
    probe = f"{tenant}-probe-{time.monotonic_ns()}"
    produce(bootstrap, [crm(probe, tenant, "probe")])
    record: dict[str, Any] = wait_for(lambda: deidentified(bootstrap, tenant, probe), timeout_s=120)
    return pack_name in record["rule_pack_version"]


def _budget_exits(stall_worker: StallWorker) -> list[dict[str, Any]]:
    return [
        line
        for line in stall_worker.log_lines()
        if line.get("event") == "worker_exiting_for_restart" and "time budget" in str(line.get("reason"))
    ]
