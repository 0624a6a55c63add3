"""`sluice audit verify` and `sluice audit replay` against the real broker, on topics of their own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import Message, Producer
from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]

from agents.audit_chain.chain import ChainHead, seal
from tests.unit.audit.chains import chain, draft
from topics.admin import admin_client

KEY_ID, KEY = "it-1", b"integration-secret"


def sluice_audit(*args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SLUICE_AUDIT_HMAC_KEYS": json.dumps({KEY_ID: KEY.decode()}),
        "SLUICE_AUDIT_HMAC_KEY_ID": KEY_ID,
    }
    return subprocess.run(
        [sys.executable, "-m", "agents.cli", "audit", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=env,
    )


def new_topic(bootstrap: str, partitions: int) -> str:
    name = f"test.audit.{uuid.uuid4().hex[:10]}"
    admin = admin_client(bootstrap)
    admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])[name].result(30)
    return name


def produce(bootstrap: str, topic: str, chains: dict[int, list[dict[str, Any]]], *, transactional: bool) -> None:
    """Writes each partition's events to that partition, as the chainer does (inside a transaction) or plainly."""
    config: dict[str, Any] = {"bootstrap.servers": bootstrap, "enable.idempotence": True}
    if transactional:
        config["transactional.id"] = f"test-audit-{uuid.uuid4().hex[:8]}"
    producer = Producer(config)
    if transactional:
        producer.init_transactions(30)
        producer.begin_transaction()
    for partition, events in chains.items():
        for event in events:
            producer.produce(topic, value=json.dumps(event).encode(), partition=partition)
    if transactional:
        producer.commit_transaction(30)
    else:
        assert producer.flush(30) == 0


def append_one(bootstrap: str, topic: str, partition: int, event: dict[str, Any]) -> int:
    """Appends like anyone with write access could; returns the offset it got."""
    offsets: list[int] = []

    def delivered(err: object, message: Message) -> None:
        assert err is None, err
        offset = message.offset()
        assert offset is not None
        offsets.append(offset)

    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce(topic, value=json.dumps(event).encode(), partition=partition, on_delivery=delivered)
    producer.flush(30)
    return offsets[0]


def sealed(partition: int, count: int, *, checkpoint_every: int) -> list[dict[str, Any]]:
    marks = {n: KEY_ID for n in range(checkpoint_every, count + 1, checkpoint_every)}
    drafts = [draft(i, subject_id=f"rec-{partition}-{i}") for i in range(count)]
    return chain(drafts, partition=partition, checkpoints=marks, keys={KEY_ID: KEY})


def test_verify_passes_a_sealed_chain_then_names_a_forged_append(bootstrap: str) -> None:
    topic = new_topic(bootstrap, 2)
    chains = {0: sealed(0, 6, checkpoint_every=3), 1: sealed(1, 4, checkpoint_every=4)}
    produce(bootstrap, topic, chains, transactional=True)

    result = sluice_audit("verify", "--topic", topic, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    body = json.loads(result.stdout)
    assert body["intact"] is True
    by_partition = {p["partition"]: p for p in body["partitions"]}
    assert by_partition[0]["events"] == 8 and by_partition[0]["checkpoints_verified"] == 2
    assert by_partition[1]["events"] == 5 and by_partition[1]["checkpoints_verified"] == 1
    assert by_partition[0]["unauthenticated_tail"] == 0

    last = chains[1][-1]  # a forged event with a correct hash that claims the last seq again
    forged = seal(draft(99, subject_id="rec-forged"), ChainHead(next_seq=last["seq"], last_hash=last["prev_hash"]))
    offset = append_one(bootstrap, topic, 1, forged)

    result = sluice_audit("verify", "--topic", topic, "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    body = json.loads(result.stdout)
    assert body["intact"] is False
    problems = [p for part in body["partitions"] for p in part["problems"]]
    assert [(p["partition"], p["offset"], p["kind"]) for p in problems] == [(1, offset, "inserted")]

    text = sluice_audit("verify", "--topic", topic)
    assert text.returncode == 1
    assert f"offset {offset}: inserted" in text.stdout and "end of a partition" in text.stdout


def test_verify_names_an_event_deleted_from_the_middle(bootstrap: str) -> None:
    topic = new_topic(bootstrap, 1)
    events = sealed(0, 8, checkpoint_every=4)
    del events[2]
    produce(bootstrap, topic, {0: events}, transactional=False)
    result = sluice_audit("verify", "--topic", topic, "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    (problem,) = json.loads(result.stdout)["partitions"][0]["problems"]
    assert (problem["offset"], problem["kind"]) == (2, "deleted")
    assert "seq 2 missing" in problem["detail"]


def test_verify_of_a_missing_topic_exits_2(bootstrap: str) -> None:
    result = sluice_audit("verify", "--topic", f"test.audit.missing.{uuid.uuid4().hex[:8]}")
    assert result.returncode == 2 and "cannot be read" in result.stderr


def test_replay_writes_an_html_report_with_the_selected_events(bootstrap: str, tmp_path: Path) -> None:
    topic = new_topic(bootstrap, 2)
    chains = {0: sealed(0, 5, checkpoint_every=5), 1: sealed(1, 3, checkpoint_every=3)}
    produce(bootstrap, topic, chains, transactional=True)
    report = tmp_path / "audit.html"
    result = sluice_audit(
        "replay", "--topic", topic, "--format", "html", "--output", str(report), "--record-id", "rec-1-2"
    )
    assert result.returncode == 0, result.stderr
    assert "1 event(s) written" in result.stderr and "chain: intact" in result.stderr
    page = report.read_text()
    assert "<script" not in page and "rec-1-2" in page and "rec-0-" not in page
    assert page.split('<table class="events">', 1)[1].count("<tr><td") == 1

    result = sluice_audit("replay", "--topic", topic, "--format", "jsonl", "--tenant", "acme")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted((x["partition"], x["event"]["seq"]) for x in lines) == [(0, s) for s in range(5)] + [
        (1, s) for s in range(3)
    ]
