"""The chainer's pure parts: drafts parse or dead-letter with a reason; checkpoints come when due and verify with the
public key alone; a restarted chainer resumes from its last checkpoint and never signs over someone else's events."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agents.audit_chain.chain import GENESIS, ChainHead, event_hash
from agents.audit_chain.chainer import AuditChainer, parse_draft
from agents.audit_chain.checkpoints import verify_checkpoint
from agents.core.audit_keys import CheckpointKeys
from agents.core.dead_letters import StageFailure
from agents.core.messages import SourcePosition
from schemas.records import AuditEvent, ChainedAuditEvent

KEY = Ed25519PrivateKey.from_private_bytes(bytes([7]) * 32)
PUBLIC = CheckpointKeys({"k1": KEY.public_key()})


def draft(n: int) -> bytes:
    return (
        AuditEvent(
            event_id=f"e{n}",
            event_type="record.indexed",
            stage="index",
            subject_id=f"rec_{n}",
            tenant="acme",
            emitted_at=datetime(2026, 11, 29, tzinfo=UTC),
            timings_ms={"embed": 1.25},
        )
        .model_dump_json()
        .encode()
    )


def position(value: bytes | None) -> SourcePosition:
    return SourcePosition("audit.pending.v1", 2, 40, b"acme", value)


class Topic:
    """The partitions of audit.events.v1 as a ChainReader sees them: (low watermark, records)."""

    def __init__(self) -> None:
        self.partitions: dict[int, tuple[int, list[tuple[int, bytes | None]]]] = {}
        self.reads: list[tuple[int, int]] = []

    def write(self, partition: int, events: list[dict[str, Any]], *, low: int = 0) -> None:
        _, existing = self.partitions.get(partition, (low, []))
        start = existing[-1][0] + 1 if existing else low
        rows = [(start + i, json.dumps(e).encode()) for i, e in enumerate(events)]
        self.partitions[partition] = (low, existing + rows)

    def bounds(self, partition: int) -> tuple[int, int]:
        low, rows = self.partitions.get(partition, (0, []))
        return low, (rows[-1][0] + 1 if rows else low)

    def records(self, partition: int, start: int) -> list[tuple[int, bytes | None]]:
        self.reads.append((partition, start))
        return [(offset, value) for offset, value in self.partitions.get(partition, (0, []))[1] if offset >= start]


def chainer(
    every: int,
    interval_s: float = 3600.0,
    topic: Topic | None = None,
    key: Ed25519PrivateKey = KEY,
    **kwargs: Any,
) -> AuditChainer:
    return AuditChainer(
        runner=None,  # type: ignore[arg-type]  # not used by the pure methods
        reader=topic or Topic(),
        signing_key_id="k1",
        private_keys={"k1": key},
        keys=CheckpointKeys(),
        checkpoint_every=every,
        checkpoint_interval_s=interval_s,
        **kwargs,
    )


def test_sealed_events_link_and_a_checkpoint_follows_every_n_events() -> None:
    sealer = chainer(every=3)
    head = ChainHead(checkpointed_at=float("inf"))  # time-based checkpoints off for this test
    out = []
    for n in range(6):
        fields = parse_draft(position(draft(n)))
        assert isinstance(fields, dict)
        out += sealer.seal_draft(2, head, fields)
    kinds = [e["event_type"] for e in out]
    assert kinds == ["record.indexed"] * 3 + ["audit.checkpoint"] + ["record.indexed"] * 3 + ["audit.checkpoint"]
    assert [e["seq"] for e in out] == list(range(8))
    assert out[0]["prev_hash"] == GENESIS
    for before, after in itertools.pairwise(out):
        assert after["prev_hash"] == before["hash"] == event_hash(before)
    checkpoint = out[3]["details"]
    assert (checkpoint["head_seq"], checkpoint["head_hash"], checkpoint["tree_size"]) == (2, out[2]["hash"], 3)
    assert verify_checkpoint(checkpoint, 2, PUBLIC).valid
    assert not verify_checkpoint(checkpoint, 1, PUBLIC).valid  # bound to its partition
    other = Ed25519PrivateKey.from_private_bytes(bytes([8]) * 32)
    assert not verify_checkpoint(checkpoint, 2, CheckpointKeys({"k1": other.public_key()})).valid
    for event in out:  # what the chainer writes is what the topic's schema says
        ChainedAuditEvent.model_validate(event)


def test_a_chain_resumed_from_its_own_events_continues_without_gap() -> None:
    topic = Topic()
    sealer = chainer(every=100, topic=topic)
    first = sealer.seal_draft(0, ChainHead(checkpointed_at=float("inf")), json.loads(draft(1)))[0]
    topic.write(0, [first])
    restarted = chainer(every=100, topic=topic)
    resumed = restarted.load_head(0)
    assert resumed.head.rejection is None
    second = restarted.seal_draft(0, resumed.head, json.loads(draft(2)))[0]
    assert (second["seq"], second["prev_hash"]) == (1, first["hash"])


def test_a_checkpoint_is_due_after_the_interval_even_with_few_events() -> None:
    sealer = chainer(every=100, interval_s=0.0)
    out = sealer.seal_draft(0, ChainHead(), json.loads(draft(1)))
    assert [e["event_type"] for e in out] == ["record.indexed", "audit.checkpoint"]


def test_drafts_that_are_not_audit_events_become_failures_with_a_reason() -> None:
    for value in (b"\xff\xfe", b"{}", b"[1, 2]", b'{"event_type": 3}', b"[" * 5000, None):
        failure = parse_draft(position(value))
        assert isinstance(failure, StageFailure) and failure.stage == "audit", value
        assert "not an audit event" in failure.error_message


def test_drafts_that_cannot_be_sealed_are_failures_too() -> None:
    surrogate = draft(1).replace(b'"rec_1"', b'"\\ud800"')
    oversized = draft(2).replace(b'"rec_2"', b'"' + b"x" * 300 + b'"')
    assert isinstance(parse_draft(position(surrogate)), StageFailure)
    failure = parse_draft(position(oversized), max_bytes=200)
    assert isinstance(failure, StageFailure) and failure.error_type == "OversizedPayloadError"


def test_an_idle_chain_gets_its_checkpoint_from_a_tick_once_the_interval_has_passed() -> None:
    sealer = chainer(every=100, interval_s=60.0)
    head = ChainHead(checkpointed_at=float("inf"))  # sealing on the real clock must not checkpoint here
    events = [e for n in range(2) for e in sealer.seal_draft(0, head, json.loads(draft(n)))]
    assert [e["event_type"] for e in events] == ["record.indexed"] * 2
    head.checkpointed_at = 1_000.0
    assert sealer.checkpoint_if_due(0, head, 1_030.0, events=0) == [], "not due yet"
    (checkpoint,) = sealer.checkpoint_if_due(0, head, 1_061.0, events=0)
    assert checkpoint["event_type"] == "audit.checkpoint" and checkpoint["prev_hash"] == events[-1]["hash"]
    assert verify_checkpoint(checkpoint["details"], 0, PUBLIC).valid
    assert sealer.checkpoint_if_due(0, head, 2_000.0, events=0) == [], "nothing after the checkpoint to cover"


def test_ticks_go_to_owned_chains_with_unauthenticated_events_once_per_interval() -> None:
    sealer = chainer(every=100, interval_s=60.0)
    idle_with_tail = ChainHead(next_seq=7, checkpointed_seq=4, checkpointed_at=1_000.0)
    fully_checkpointed = ChainHead(next_seq=5, checkpointed_seq=4, checkpointed_at=0.0)
    sealer.heads = {0: idle_with_tail, 1: fully_checkpointed}
    owned = [0, 1, 2]  # 2: assigned, head not read yet (after a restart its tail may be unauthenticated)
    assert sealer.ticks_due(owned, 1_030.0) == [2]
    assert sealer.ticks_due(owned, 1_061.0) == [0]
    assert sealer.ticks_due(owned, 1_062.0) == [], "one tick per interval"
    assert sealer.ticks_due(owned, 1_122.0) == [0, 2], "a tick lost on its way is sent again"


def test_a_tail_longer_than_the_first_window_is_read_further_back_to_its_checkpoint() -> None:
    topic = Topic()
    sealer = chainer(every=1, topic=topic)
    head = ChainHead(checkpointed_at=float("inf"))
    events = sealer.seal_draft(0, head, json.loads(draft(0)))  # every=1: the checkpoint follows at once
    sealer.checkpoint_every = 10_000
    for n in range(1, 100):
        events += sealer.seal_draft(0, head, json.loads(draft(n)))
    assert [e["event_type"] for e in events[:2]] == ["record.indexed", "audit.checkpoint"]
    topic.write(0, events)
    resumed = chainer(every=1, topic=topic).load_head(0)  # first window: the last 64 records, no checkpoint
    assert topic.reads == [(0, 101 - 64), (0, 0)]
    assert (resumed.head.next_seq, resumed.head.checkpointed_seq, resumed.head.rejection) == (101, 1, None)
    assert resumed.head.tree.root() == head.tree.root()


def test_an_empty_partition_starts_at_genesis_without_reading() -> None:
    topic = Topic()
    resumed = chainer(every=5, topic=topic).load_head(3)
    assert (resumed.head.next_seq, resumed.head.last_hash) == (0, GENESIS) and topic.reads == []
