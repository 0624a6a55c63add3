"""The review agent without a broker: decisions become exactly one final response; every bad decision is refused."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agents.core.audit import AuditEmitter
from agents.core.dead_letters import DeadLetterBuilder, DeadLetterWriter
from agents.core.digests import keyed_digest
from agents.core.messages import SourcePosition
from agents.core.runner import BatchRunner
from agents.inference.review import REVIEW_TICK, ReviewFlow
from agents.inference.tenancy import request_key
from schemas.review import ReviewDecision, ReviewItem
from topics.specs import REVIEW_DECISIONS, REVIEW_PENDING

PHONE = re.compile(r"1[3-9]\d{9}")
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@dataclass
class Sent:
    out: list[tuple[str, bytes | None, bytes | None]] = field(default_factory=list)

    async def __call__(self, topic: str, key: bytes | None, value: bytes | None) -> None:
        self.out.append((topic, key, value))

    def on(self, topic: str) -> list[dict[str, Any] | None]:
        return [json.loads(value) if value is not None else None for name, _, value in self.out if name == topic]

    def audit(self, event_type: str | None = None) -> list[dict[str, Any]]:
        events = [e for e in self.on("audit.pending.v1") if e is not None]
        return [e for e in events if event_type is None or e["event_type"] == event_type]

    def finals(self, topic: str = "inference.responses.v1") -> list[dict[str, Any]]:
        return [r for r in self.on(topic) if r is not None]


@dataclass
class Harness:
    flow: ReviewFlow
    sent: Sent
    now: list[float]
    offset: int = 0

    async def deliver(self, topic: str, key: bytes | None, value: bytes | None, partition: int = 0) -> None:
        self.offset += 1
        await self.flow.on_message(SourcePosition(topic, partition, self.offset, key, value))

    async def queue(self, item: ReviewItem) -> None:
        await self.deliver(
            REVIEW_PENDING.name, request_key(item.tenant, item.request_id), item.model_dump_json().encode()
        )

    async def decide(self, **fields: Any) -> None:
        body = {
            "request_id": "r1",
            "tenant": "acme",
            "action": "approve",
            "reviewer": "tok_alice",
            "decided_at": NOW.isoformat(),
            **fields,
        }
        decision = ReviewDecision.model_validate(body)
        await self.deliver(
            REVIEW_DECISIONS.name,
            request_key(decision.tenant, decision.request_id),
            decision.model_dump_json().encode(),
        )


def item(**fields: Any) -> ReviewItem:
    body: dict[str, Any] = {
        "request_id": "r1",
        "tenant": "acme",
        "session_id": "s1",
        "task": "chat",
        "rule_id": "default.legal_review",
        "reason": "legal",
        "risk_score": 0.8,
        "prompt": "we will sue, call <CN_MOBILE_0123456789abcdef>",
        "prompt_sha256": "ab" * 32,
        "draft": "We are sorry; a colleague will contact you.",
        "draft_model": "tiny@1",
        "draft_variant": "A",
        "reply_to": "inference.responses.v1",
        "queued_at": NOW.isoformat(),
        "deadline_at": (NOW + timedelta(hours=1)).isoformat(),
        **fields,
    }
    return ReviewItem.model_validate(body)


@pytest.fixture()
def harness() -> Harness:
    sent = Sent()
    now = [NOW.timestamp()]
    runner = BatchRunner(
        DeadLetterWriter(DeadLetterBuilder(bytes(32), bytes(32)), "inference.dlq.v1", sent), AuditEmitter(sent)
    )
    flow = ReviewFlow(
        runner,
        sent,
        scrub=lambda text: PHONE.sub("<CN_MOBILE>", text),
        digest=lambda text: keyed_digest(bytes(32), text),
        partitions=3,
        max_message_bytes=256_000,
        clock=lambda: now[0],
    )
    flow.use_table({})
    return Harness(flow, sent, now)


async def test_an_approval_publishes_the_draft_once_tombstones_the_item_and_audits_the_reviewer(
    harness: Harness,
) -> None:
    await harness.queue(item())
    await harness.decide(action="approve")
    (final,) = harness.sent.finals()
    assert final["status"] == "ok" and final["text"] == "We are sorry; a colleague will contact you."
    assert final["review"]["decision"] == "approved" and final["review"]["reviewer"] == "tok_alice"
    assert final["model"] == "tiny@1" and final["variant"] == "A"
    assert harness.sent.on(REVIEW_PENDING.name) == [None]  # the open queue no longer lists it
    (event,) = harness.sent.audit("review.approved")
    assert event["details"]["reviewer"] == "tok_alice" and event["subject_id"] == "r1"
    assert event["details"]["changed_draft"] is False
    # The same decision again (a double click, a replay) changes nothing but the audit stream.
    await harness.decide(action="approve")
    await harness.decide(action="reject", reason="too late")
    assert len(harness.sent.finals()) == 1
    refused = harness.sent.audit("review.decision_refused")
    assert [e["details"]["reason"] for e in refused] == ["already_decided", "already_decided"]


async def test_an_edit_is_scrubbed_before_the_client_sees_it(harness: Harness) -> None:
    await harness.queue(item())
    await harness.decide(action="edit", text="Please call our lawyer at 13812345678.")
    (final,) = harness.sent.finals()
    assert final["status"] == "ok" and final["review"]["decision"] == "edited"
    assert final["text"] == "Please call our lawyer at <CN_MOBILE>."
    assert "13812345678" not in json.dumps(harness.sent.audit())
    assert harness.sent.audit("review.edited")[0]["details"]["changed_draft"] is True


async def test_a_rejection_gives_the_reason_and_no_text(harness: Harness) -> None:
    await harness.queue(item())
    await harness.decide(action="reject", reason="not something we answer in writing")
    (final,) = harness.sent.finals()
    assert final["status"] == "rejected" and final["text"] == "" and final["citations"] == []
    assert final["reason"] == "rejected in review: not something we answer in writing"


async def test_the_final_response_goes_to_the_items_reply_topic(harness: Harness) -> None:
    await harness.queue(item(reply_to="inference.responses.acme.v1"))
    await harness.decide(action="approve")
    assert harness.sent.finals() == [] and len(harness.sent.finals("inference.responses.acme.v1")) == 1


@pytest.mark.parametrize(
    ("decision", "reason"),
    [
        ({"request_id": "never-queued"}, "unknown_request"),
        # A reviewer of another tenant names the request id: under its own tenant, the id is unknown.
        ({"tenant": "globex"}, "unknown_request"),
    ],
)
async def test_a_decision_for_an_unknown_request_or_from_another_tenant_changes_nothing(
    harness: Harness, decision: dict[str, Any], reason: str
) -> None:
    await harness.queue(item())
    await harness.decide(action="approve", **decision)
    assert harness.sent.finals() == [] and harness.sent.on(REVIEW_PENDING.name) == []
    (refused,) = harness.sent.audit("review.decision_refused")
    assert refused["details"]["reason"] == reason
    await harness.decide(action="approve")  # the real reviewer still can
    assert len(harness.sent.finals()) == 1


async def test_an_escalated_item_waits_for_an_admin(harness: Harness) -> None:
    await harness.queue(item())
    await harness.decide(action="escalate", reason="needs the legal team")
    (escalated,) = [v for v in harness.sent.on(REVIEW_PENDING.name) if v is not None]
    assert escalated["escalated"] and escalated["escalated_by"] == "tok_alice"
    await harness.queue(ReviewItem.model_validate(escalated))  # the agent reads its own re-publication back
    await harness.decide(action="approve", reviewer="tok_bob")
    assert harness.sent.finals() == []
    assert harness.sent.audit("review.decision_refused")[0]["details"]["reason"] == "escalated_to_admin"
    await harness.decide(action="approve", reviewer="tok_admin", reviewer_kind="admin")
    assert harness.sent.finals()[0]["review"]["reviewer"] == "tok_admin"


async def test_approving_an_item_without_a_draft_is_refused_but_an_edit_answers_it(harness: Harness) -> None:
    await harness.queue(item(draft=None))
    await harness.decide(action="approve")
    assert harness.sent.audit("review.decision_refused")[0]["details"]["reason"] == "nothing_to_approve"
    await harness.decide(action="edit", text="A colleague will call you back.")
    assert harness.sent.finals()[0]["text"] == "A colleague will call you back."


async def test_an_item_past_its_deadline_expires_with_a_timeout_on_a_tick_of_its_partition(harness: Harness) -> None:
    await harness.queue(item())
    assert harness.flow.partitions_with_due_items([0, 1, 2]) == []
    harness.now[0] = (NOW + timedelta(hours=2)).timestamp()
    assert harness.flow.partitions_with_due_items([0, 1, 2]) == [0]
    await harness.deliver(REVIEW_DECISIONS.name, None, REVIEW_TICK, partition=1)  # another partition's tick
    assert harness.sent.finals() == []
    await harness.deliver(REVIEW_DECISIONS.name, None, REVIEW_TICK, partition=0)
    (final,) = harness.sent.finals()
    assert final["status"] == "timeout" and final["review"]["decision"] == "expired"
    assert final["review"]["reviewer"] is None and harness.sent.audit("review.expired")
    await harness.decide(action="approve")  # too late
    assert len(harness.sent.finals()) == 1
    assert harness.flow.partitions_with_due_items([0]) == []


async def test_a_malformed_decision_is_dead_lettered_with_a_reason(harness: Harness) -> None:
    await harness.queue(item())
    await harness.deliver(REVIEW_DECISIONS.name, b"k", b'{"request_id": "r1", "action": "approve"}')
    await harness.deliver(REVIEW_DECISIONS.name, b"k", b"\xff not json")
    letters = [v for v in harness.sent.on("inference.dlq.v1") if v is not None]
    assert len(letters) == 2 and all(letter["stage"] == "review" for letter in letters)
    assert harness.sent.finals() == []
