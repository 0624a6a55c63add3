"""Fault injection on the real broker: SIGKILLed workers and a restarted broker lose and duplicate nothing.

Every input must end in exactly one outcome (an index acknowledgement, a response or a dead letter), the index
must hold each record's chunks once, and the audit chain must verify.
"""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from agents.core.kafka_io import produce_all
from agents.core.settings import Settings
from agents.processes import runtime
from agents.processes.broker import LocalBroker, pid_alive
from tests.integration.conftest import api, wait_for
from tests.integration.helpers import event, key_digest, values, worker_child

# Kills workers or the broker and waits for them to recover: `make test-resilience`, not `make test`.
pytestmark = pytest.mark.resilience

BROKEN = b'{"event_id": "cut short'


def ingest_inputs(tenant: str, count: int, broken_every: int = 10) -> list[tuple[str, bytes, bytes]]:
    """CRM events with PII, every `broken_every`-th one unparseable (it must become a dead letter)."""
    out = []
    for i in range(count):
        key = f"{tenant}-e{i}"
        if i % broken_every == broken_every - 1:
            out.append(("crm.events.v1", key.encode(), BROKEN))
            continue
        notes = f"follow-up {i}: call 张伟 on 13812345678 about order {i}. " + "details " * (i % 5) * 15
        out.append(("crm.events.v1", key.encode(), event(key, tenant, {"customer_id": f"C-{i}", "notes": notes})))
    return out


def requests(tenant: str, count: int) -> list[tuple[str, bytes, bytes]]:
    out = []
    for i in range(count):
        session = f"{tenant}-s{i % 5}"
        body = {
            "request_id": f"{tenant}-r{i}",
            "tenant": tenant,
            "session_id": session,
            "prompt": f"question {i}: status of order {i}?",
            "max_tokens": 6,
        }
        out.append(("inference.requests.v1", session.encode(), json.dumps(body).encode()))
    return out


def send_steadily(messages: list[tuple[str, bytes, bytes]], over_s: float, bootstrap: str) -> threading.Thread:
    """Produce in small slices spread over `over_s` seconds: a sustained run, not one burst."""

    def run() -> None:
        slices = max(1, int(over_s / 0.5))
        step = max(1, len(messages) // slices)
        for start in range(0, len(messages), step):
            produce_all(bootstrap, messages[start : start + step])
            time.sleep(0.5)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def sha(key: bytes) -> str:
    return key_digest(key)


def ingest_outcomes(bootstrap: str, tenant: str) -> Counter[str]:
    """Outcomes per input key: each index acknowledgement and each dead letter counts once."""
    found: Counter[str] = Counter()
    for ack in values(bootstrap, "records.indexed.v1", tenant=tenant):
        found[ack["lineage"]["event_id"]] += 1
    letters = values(bootstrap, "ingest.dlq.v1")
    by_hash = {sha(f"{tenant}-e{i}".encode()): f"{tenant}-e{i}" for i in range(10_000)}
    for letter in letters:
        key = by_hash.get(letter.get("key_sha256") or "")
        if key is not None:
            found[key] += 1
    return found


def response_outcomes(bootstrap: str, tenant: str) -> Counter[str]:
    return Counter(r["request_id"] for r in values(bootstrap, "inference.responses.v1", tenant=tenant))


def wait_all_outcomes(
    bootstrap: str, tenant: str, inputs: int, asked: int, timeout_s: float = 240
) -> tuple[Counter[str], Counter[str]]:
    """Outcomes once every input has one (or at the deadline: the assertions then name what is missing)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ingest, answers = ingest_outcomes(bootstrap, tenant), response_outcomes(bootstrap, tenant)
        if len(ingest) >= inputs and len(answers) >= asked:
            time.sleep(3)  # a late duplicate would show up now
            break
        time.sleep(2)
    return ingest_outcomes(bootstrap, tenant), response_outcomes(bootstrap, tenant)


def assert_exactly_once(sluice_up: dict[str, Any], bootstrap: str, tenant: str, inputs: int, asked: int) -> None:
    ingest, answers = wait_all_outcomes(bootstrap, tenant, inputs, asked)
    missing = sorted({f"{tenant}-e{i}" for i in range(inputs)} - set(ingest))
    unanswered = sorted({f"{tenant}-r{i}" for i in range(asked)} - set(answers))
    assert not missing and not unanswered, f"no outcome for inputs {missing} and requests {unanswered}"
    assert [k for k, n in ingest.items() if n != 1] == [], "an input has more than one outcome"
    assert set(answers) == {f"{tenant}-r{i}" for i in range(asked)}, "a request has no response"
    assert [k for k, n in answers.items() if n != 1] == [], "a request was answered twice"
    acks = values(bootstrap, "records.indexed.v1", tenant=tenant)
    stored = api(sluice_up["api_url"], f"/records?tenant={tenant}&limit=500", token=sluice_up["api_token"])
    assert stored["total"] == len(acks), "the index holds a record that was not acknowledged (or lacks one)"
    assert stored["chunks"] == sum(a["chunks"] for a in acks), "duplicate or missing chunks in the index"


def audit_intact(settings: Settings) -> None:
    """`sluice audit verify` over the whole stream: every partition's chain and checkpoints hold.

    The newest events of a partition are authenticated by the chainer's next checkpoint (within the checkpoint
    interval of quiet): until then verify reports them, and only those reports may pass with time.
    """
    from agents.tools.audit.commands import verify_topic

    def verified() -> Any:
        report = verify_topic(settings, "audit.events.v1")
        lasting = [p for p in report.problems if p.kind not in ("no_valid_checkpoint", "unauthenticated_tail")]
        assert not lasting, json.dumps(report.to_json(), indent=1)[:4000]
        return report if report.intact else None

    report = wait_for(verified, timeout_s=4 * settings.audit_checkpoint_interval_s + 30, interval_s=2)
    assert sum(p.checkpoints_verified for p in report.partitions) > 0, "no checkpoint was verified"


def worker_of(settings: Settings, role: str) -> int:
    """The pid of the worker process of `role` (the child of its keep-alive supervisor), once it runs."""
    supervisor = next(p["pid"] for p in runtime.status(settings)["processes"] if p["role"] == role)
    pid: int = wait_for(lambda: worker_child(supervisor), timeout_s=30)
    return pid


def test_workers_sigkilled_repeatedly_lose_and_duplicate_nothing(
    sluice_up: dict[str, Any], settings: Settings, bootstrap: str, tenant: str
) -> None:
    inputs, asked = 150, 30
    traffic = [*ingest_inputs(tenant, inputs), *requests(tenant, asked)]
    random.Random(7).shuffle(traffic)
    sender = send_steadily(traffic, over_s=24, bootstrap=bootstrap)
    for victim in ("deidentify", "index", "inference", "audit", "deidentify"):
        time.sleep(4)
        pid = worker_of(settings, victim)
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda pid=pid: not pid_alive(pid), timeout_s=20)  # type: ignore[misc]
        # The keep-alive supervisor starts the worker again by itself.
        wait_for(lambda pid=pid, victim=victim: worker_of(settings, victim) != pid, timeout_s=30)  # type: ignore[misc]
    sender.join()
    wait_for(lambda: runtime.status(settings)["healthy"], timeout_s=120)
    assert_exactly_once(sluice_up, bootstrap, tenant, inputs, asked)
    audit_intact(settings)


def test_broker_restarted_mid_run_workers_recover_by_themselves(
    sluice_up: dict[str, Any], settings: Settings, bootstrap: str, tenant: str
) -> None:
    inputs, asked = 60, 10
    traffic = [*ingest_inputs(tenant, inputs), *requests(tenant, asked)]
    half = len(traffic) // 2
    produce_all(bootstrap, traffic[:half])
    time.sleep(3)
    broker = LocalBroker(settings)
    broker.down()
    time.sleep(5)
    state = broker.up()
    assert state.bootstrap_servers == bootstrap, "the broker came back on another port"
    produce_all(bootstrap, traffic[half:])
    assert_exactly_once(sluice_up, bootstrap, tenant, inputs, asked)
    status: Callable[[], Any] = lambda: runtime.status(settings)["healthy"]  # noqa: E731
    assert wait_for(status, timeout_s=60)
    audit_intact(settings)
