"""The chainer's pure parts: drafts parse or dead-letter with a reason; checkpoints come when due and verify."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime

from agents.audit.chain import GENESIS, ChainHead, checkpoint_problem, event_hash
from agents.audit.chainer import AuditChainer, parse_draft
from agents.dead_letters import SourcePosition, StageFailure
from schemas.records import AuditEvent

KEY = b"k" * 32


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


def chainer(every: int, interval_s: float = 3600.0) -> AuditChainer:
    return AuditChainer(
        runner=None,  # type: ignore[arg-type]  # not used by the pure methods
        read_head=lambda _p: None,
        signing_key_id="k1",
        signing_key=KEY,
        checkpoint_every=every,
        checkpoint_interval_s=interval_s,
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
    assert (checkpoint["head_seq"], checkpoint["head_hash"], checkpoint["count"]) == (2, out[2]["hash"], 3)
    assert checkpoint_problem(checkpoint, 2, {"k1": KEY}) is None
    assert checkpoint_problem(checkpoint, 1, {"k1": KEY}) is not None  # bound to its partition
    assert checkpoint_problem(checkpoint, 2, {"k1": b"other"}) is not None


def test_a_chain_resumed_from_its_last_event_continues_without_gap() -> None:
    sealer = chainer(every=100)
    first = sealer.seal_draft(0, ChainHead(checkpointed_at=float("inf")), json.loads(draft(1)))[0]
    head = ChainHead.after(first, now=0.0)
    second = sealer.seal_draft(0, head, json.loads(draft(2)))[0]
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
