"""`sluice audit verify`, `prove`, `check-proof` and `replay` against the real broker, on topics of their own.

The chains here are sealed and signed like the chainer does (tests/unit/audit/chains.py) with a key of the test's
own; the commands get only its public key. Tampering is done the way someone with write access to the topic could:
appending, deleting records from the start (DeleteRecords), or keeping a shorter copy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import Message, Producer, TopicPartition
from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agents.audit_chain.chain import ChainHead, seal
from agents.core.audit_keys import public_key_text
from tests.unit.audit.chains import ROGUE, chain, draft, signed_checkpoint
from topics.admin import admin_client

KEY_ID = "it-1"
KEY = Ed25519PrivateKey.from_private_bytes(bytes([42]) * 32)
PUBLIC_KEY = f"{KEY_ID}={public_key_text(KEY)}"


def sluice_audit(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI with nothing but the public key: no signing key, no HMAC key, an empty var dir of its own."""
    return subprocess.run(
        [sys.executable, "-m", "agents.cli", "audit", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, "SLUICE_AUDIT_PUBLIC_KEYS": json.dumps({KEY_ID: public_key_text(KEY)}), **(env or {})},
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


def append(bootstrap: str, topic: str, partition: int, events: list[dict[str, Any]]) -> list[int]:
    """Appends like anyone with write access could; returns the offsets they got."""
    offsets: list[int] = []

    def delivered(err: object, message: Message) -> None:
        assert err is None, err
        offset = message.offset()
        assert offset is not None
        offsets.append(offset)

    producer = Producer({"bootstrap.servers": bootstrap})
    for event in events:
        producer.produce(topic, value=json.dumps(event).encode(), partition=partition, on_delivery=delivered)
    producer.flush(30)
    return offsets


def sealed(
    partition: int, count: int, *, checkpoint_every: int, topic: str, head: ChainHead | None = None
) -> list[dict[str, Any]]:
    marks = {n: KEY_ID for n in range(checkpoint_every, count + 1, checkpoint_every)}
    drafts = [draft(i, subject_id=f"rec-{partition}-{i}") for i in range(count)]
    return chain(drafts, partition=partition, checkpoints=marks, keys={KEY_ID: KEY}, head=head, topic=topic)


def problems(result: subprocess.CompletedProcess[str]) -> list[tuple[int, int | None, str]]:
    body = json.loads(result.stdout)
    return [(p["partition"], p["offset"], p["kind"]) for part in body["partitions"] for p in part["problems"]]


def test_verify_passes_a_signed_chain_with_the_public_key_only_then_names_a_forged_append(
    bootstrap: str, tmp_path: Path
) -> None:
    topic = new_topic(bootstrap, 2)
    chains = {0: sealed(0, 6, checkpoint_every=3, topic=topic), 1: sealed(1, 4, checkpoint_every=4, topic=topic)}
    produce(bootstrap, topic, chains, transactional=True)

    bare = {"SLUICE_VAR_DIR": str(tmp_path / "var"), "KAFKA_BOOTSTRAP_SERVERS": bootstrap}
    result = sluice_audit("verify", "--topic", topic, "--json", "--public-key", PUBLIC_KEY, env=bare)
    assert result.returncode == 0, result.stdout + result.stderr
    body = json.loads(result.stdout)
    assert body["intact"] is True
    by_partition = {p["partition"]: p for p in body["partitions"]}
    assert by_partition[0]["events"] == 8 and by_partition[0]["checkpoints_verified"] == 2
    assert by_partition[1]["events"] == 5 and by_partition[1]["checkpoints_verified"] == 1
    assert by_partition[0]["unauthenticated_tail"] == 0 and by_partition[0]["low_watermark"] == 0
    assert by_partition[1]["signed_head"]["tree_size"] == 4
    assert not (tmp_path / "var").exists(), "verifying created something"

    last = chains[1][-1]  # a forged event with a correct hash that claims the last seq again
    forged = seal(draft(99, subject_id="rec-forged"), ChainHead(next_seq=last["seq"], last_hash=last["prev_hash"]))
    (offset,) = append(bootstrap, topic, 1, [forged])

    result = sluice_audit("verify", "--topic", topic, "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    assert problems(result) == [(1, offset, "inserted")]
    (problem,) = json.loads(result.stdout)["partitions"][1]["problems"]
    assert (problem["seq"], problem["event_type"], problem["tenant"]) == (4, "record.deidentified", "acme")

    text = sluice_audit("verify", "--topic", topic)
    assert text.returncode == 1
    assert f"offset {offset} (seq 4, record.deidentified, tenant acme): inserted" in text.stdout
    assert "end of a partition" in text.stdout


def test_verify_refuses_a_tail_re_signed_by_someone_without_the_private_key(bootstrap: str) -> None:
    topic = new_topic(bootstrap, 1)
    head = ChainHead()
    produce(bootstrap, topic, {0: sealed(0, 4, checkpoint_every=4, topic=topic, head=head)}, transactional=True)
    # Someone who can write the topic and holds only the public key: events that link, and a checkpoint over them
    # under the real key id, signed with a key of their own (an HMAC verifier key would have sufficed before).
    forged = [seal(draft(50 + i, tenant="mallory"), head) for i in range(3)]
    forged.append(seal(signed_checkpoint(0, head, KEY_ID, ROGUE, at=forged[-1]["emitted_at"], topic=topic), head))
    offsets = append(bootstrap, topic, 0, forged)
    result = sluice_audit("verify", "--topic", topic, "--json", "--max-unauthenticated", "2")
    assert result.returncode == 1, result.stdout + result.stderr
    assert problems(result) == [(0, offsets[0], "unauthenticated_tail"), (0, offsets[-1], "bad_checkpoint")]
    body = json.loads(result.stdout)["partitions"][0]
    assert body["problems"][0]["tenant"] == "mallory"
    assert "signature is not valid" in body["problems"][1]["detail"]


def test_verify_names_an_event_deleted_from_the_middle(bootstrap: str) -> None:
    topic = new_topic(bootstrap, 1)
    events = sealed(0, 8, checkpoint_every=4, topic=topic)
    del events[2]
    produce(bootstrap, topic, {0: events}, transactional=False)
    result = sluice_audit("verify", "--topic", topic, "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    (problem,) = json.loads(result.stdout)["partitions"][0]["problems"]
    assert (problem["offset"], problem["kind"]) == (2, "deleted")
    assert "seq 2 missing" in problem["detail"]


def test_verify_finds_records_deleted_from_the_start_against_the_signed_low_watermark(bootstrap: str) -> None:
    topic = new_topic(bootstrap, 1)
    produce(bootstrap, topic, {0: sealed(0, 8, checkpoint_every=4, topic=topic)}, transactional=False)
    admin = admin_client(bootstrap)
    (future,) = admin.delete_records([TopicPartition(topic, 0, 3)]).values()
    future.result(30)
    result = sluice_audit("verify", "--topic", topic, "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    assert problems(result) == [(0, 3, "deleted"), (0, 3, "truncated")]
    assert json.loads(result.stdout)["partitions"][0]["low_watermark"] == 3


def test_verify_finds_a_truncated_copy_against_heads_recorded_earlier(bootstrap: str, tmp_path: Path) -> None:
    live = new_topic(bootstrap, 1)
    events = sealed(0, 10, checkpoint_every=3, topic=live)  # checkpoints at offsets 3, 7 and 11; one event after
    produce(bootstrap, live, {0: events}, transactional=True)
    recorded = sluice_audit("verify", "--topic", live, "--json")
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    heads = tmp_path / "heads.json"
    heads.write_text(recorded.stdout)

    copy = new_topic(bootstrap, 1)  # a copy without its last five records: what is left links and verifies
    produce(bootstrap, copy, {0: events[:8]}, transactional=True)
    assert sluice_audit("verify", "--topic", copy).returncode == 0
    result = sluice_audit("verify", "--topic", copy, "--json", "--expect-heads", str(heads))
    assert result.returncode == 1, result.stdout + result.stderr
    assert problems(result) == [(0, 7, "truncated")]
    assert sluice_audit("verify", "--topic", live, "--expect-heads", str(heads)).returncode == 0


def test_prove_writes_a_proof_that_checks_offline_with_the_public_key_only(bootstrap: str, tmp_path: Path) -> None:
    topic = new_topic(bootstrap, 1)
    produce(bootstrap, topic, {0: sealed(0, 7, checkpoint_every=7, topic=topic)}, transactional=True)
    proof = tmp_path / "proof.json"
    result = sluice_audit("prove", "e0004", "--topic", topic, "--json", "--output", str(proof))
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert (body["leaf_index"], body["tree_size"], body["signed_head"]["key_id"]) == (4, 7, KEY_ID)
    assert json.loads(proof.read_text()) == body

    offline = {"SLUICE_VAR_DIR": str(tmp_path / "var"), "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9"}  # no cluster
    checked = sluice_audit("check-proof", str(proof), "--public-key", PUBLIC_KEY, env=offline)
    assert checked.returncode == 0 and checked.stdout.startswith("VALID: event e0004"), checked.stdout
    body["event"]["tenant"] = "someone-else"
    proof.write_text(json.dumps(body))
    refused = sluice_audit("check-proof", str(proof), "--public-key", PUBLIC_KEY, env=offline)
    assert refused.returncode == 1 and refused.stdout.startswith("INVALID:"), refused.stdout

    uncovered = new_topic(bootstrap, 1)
    produce(bootstrap, uncovered, {0: sealed(0, 3, checkpoint_every=5, topic=uncovered)}, transactional=True)
    missing = sluice_audit("prove", "e0001", "--topic", uncovered)
    assert missing.returncode == 1 and "not covered by a valid signed tree head yet" in missing.stderr


def test_verify_of_a_missing_topic_exits_2(bootstrap: str) -> None:
    result = sluice_audit("verify", "--topic", f"test.audit.missing.{uuid.uuid4().hex[:8]}")
    assert result.returncode == 2 and "cannot be read" in result.stderr


def test_replay_writes_an_html_report_with_the_selected_events(bootstrap: str, tmp_path: Path) -> None:
    topic = new_topic(bootstrap, 2)
    chains = {0: sealed(0, 5, checkpoint_every=5, topic=topic), 1: sealed(1, 3, checkpoint_every=3, topic=topic)}
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
