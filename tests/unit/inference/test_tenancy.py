"""Tenants who are who they say: sessions and request ids are per tenant, reply_to only to response topics."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from agents.core.audit import AuditEmitter
from agents.core.dead_letters import DeadLetterBuilder, DeadLetterWriter
from agents.core.digests import keyed_digest
from agents.core.runner import BatchRunner
from agents.inference.expiry import ExpiringTable
from agents.inference.flow import InferenceFlow
from agents.inference.reply_to import RESERVED_TOPICS, ReplyToRule
from agents.inference.service import Handled, InferenceService
from agents.inference.tenancy import owned, owned_by, table_key, tenant_of
from models.dialog import SessionHistory, Turn
from schemas.inference import InferenceRequest, InferenceResponse

# --- keys ----------------------------------------------------------------------------------------------------------
from tests.unit.inference.faust_fakes import Event, Message
from topics.specs import ALL_TOPICS, AUDIT_EVENTS, INFERENCE_RESPONSES


def test_the_key_is_canonical_json_of_tenant_and_id() -> None:
    assert table_key("acme", "s-42") == '["acme","s-42"]'
    assert table_key(None, "r1") == '[null,"r1"]'


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (("acme", "x\x1fy"), ("acme\x1fx", "y")),
        (("a", '","b'), ('a","', "b")),
        (("a", "b"), ("a,b", "")),
        ((None, "r1"), ("null", "r1")),
    ],
)
def test_different_tenant_and_id_pairs_never_share_a_key(a: tuple[str | None, str], b: tuple[str | None, str]) -> None:
    assert table_key(*a) != table_key(*b)
    assert json.loads(table_key(*a)) == list(a)


def test_the_tenant_of_a_key_is_read_back_and_old_bare_keys_have_none() -> None:
    assert tenant_of(table_key("acme", "s1")) == "acme"
    assert tenant_of(table_key("acme", "中文 id")) == "acme"
    for bare in ("s1", "[not json", "[1,2]", '["a","b","c"]', '["acme"]', "[]"):
        assert tenant_of(bare) is None, bare
    assert tenant_of(table_key(None, "r1")) is None


def test_a_value_is_used_only_by_the_tenant_it_names() -> None:
    stored = owned("acme", {"turns": []})
    assert owned_by("acme", stored) == {"turns": []}
    assert owned_by("other", stored) is None
    # Written before values named their tenant (or under a bare key): never trusted.
    assert owned_by("acme", {"turns": []}) is None
    assert owned_by("acme", None) is None and owned_by("acme", "text") is None


# --- the flow, with a service that records what history it was given ---------------------------------------------


class RecordingService:
    """Answers every request with "answer to <prompt>" and appends the exchange to the history it was given."""

    def __init__(self) -> None:
        self.histories: dict[str, list[str]] = {}

    def digest(self, text: str) -> str:
        return keyed_digest(bytes(32), text)

    async def handle(self, request: InferenceRequest, *, produced_at: float, history: SessionHistory) -> Handled:
        self.histories[request.request_id] = [turn.content for turn in history.turns]
        response = InferenceResponse(
            request_id=request.request_id,
            tenant=request.tenant,
            session_id=request.session_id,
            status="ok",
            text=f"answer to {request.prompt}",
            responded_at=datetime.now(UTC),
        )
        new = history.append(Turn("user", request.prompt, request.request_id))
        return Handled(response, new.append(Turn("assistant", response.text, request.request_id)), None, {})


@dataclass
class Sent:
    out: list[tuple[str, bytes | None, bytes]] = field(default_factory=list)

    async def __call__(self, topic: str, key: bytes | None, value: bytes) -> None:
        self.out.append((topic, key, value))

    def on(self, topic: str) -> list[dict[str, Any]]:
        return [json.loads(value) for name, _, value in self.out if name == topic]

    def audit(self, event_type: str) -> list[dict[str, Any]]:
        return [e for e in self.on("audit.pending.v1") if e["event_type"] == event_type]


@dataclass
class Harness:
    flow: InferenceFlow
    service: RecordingService
    sent: Sent
    sessions: ExpiringTable
    offset: int = 0

    async def ask(self, partition: int = 0, **fields: Any) -> None:
        request = {"prompt": "hi", **fields}
        key = (request.get("session_id") or request.get("request_id") or "").encode()
        self.offset += 1
        message = Message("inference.requests.v1", partition, self.offset, key, json.dumps(request).encode())
        await self.flow._answer(cast(Any, Event(message)), self.sessions)

    def responses(self, request_id: str) -> list[dict[str, Any]]:
        return [r for r in self.sent.on(INFERENCE_RESPONSES.name) if r["request_id"] == request_id]


def harness(*, max_sessions_per_tenant: int = 100, rule: ReplyToRule | None = None) -> Harness:
    sent = Sent()
    service = RecordingService()
    runner = BatchRunner(
        DeadLetterWriter(DeadLetterBuilder(bytes(32), bytes(32)), "inference.dlq.v1", sent), AuditEmitter(sent)
    )
    flow = InferenceFlow(
        cast(InferenceService, service),
        runner,
        sent,
        take=8,
        within_s=0.01,
        max_message_bytes=100_000,
        partitions=3,
        max_sessions_per_tenant=max_sessions_per_tenant,
        reply_to_rule=rule or ReplyToRule.from_patterns(),
    )
    return Harness(flow, service, sent, flow.use_tables({}, {}))  # dicts where register(app) has Faust tables


async def test_another_tenant_with_the_same_session_id_neither_reads_nor_extends_the_history() -> None:
    h = harness()
    await h.ask(request_id="a1", tenant="acme", session_id="s1", prompt="my order 42")
    await h.ask(request_id="b1", tenant="evil", session_id="s1", prompt="what did they say?")
    await h.ask(request_id="a2", tenant="acme", session_id="s1", prompt="and now?")
    await h.ask(request_id="b2", tenant="evil", session_id="s1", prompt="again")
    assert h.service.histories["b1"] == [], "evil saw acme's history"
    assert h.service.histories["a2"] == ["my order 42", "answer to my order 42"], "evil's turn got into acme's history"
    assert h.service.histories["b2"] == ["what did they say?", "answer to what did they say?"]
    assert set(h.sessions.table) == {table_key("acme", "s1"), table_key("evil", "s1")}


async def test_another_tenant_sending_a_request_id_first_does_not_stop_the_owner_being_answered() -> None:
    h = harness()
    await h.ask(request_id="r1", tenant="evil", prompt="pre-sent")
    await h.ask(request_id="r1", tenant="acme", prompt="the real one")
    answers = h.responses("r1")
    assert [(a["tenant"], a["text"]) for a in answers] == [
        ("evil", "answer to pre-sent"),
        ("acme", "answer to the real one"),
    ]
    assert h.sent.audit("request.duplicate_suppressed") == []


async def test_a_retry_from_the_same_tenant_is_still_suppressed_and_audited() -> None:
    h = harness()
    await h.ask(request_id="r1", tenant="acme", session_id="s1")
    await h.ask(request_id="r1", tenant="acme", session_id="s1")
    assert len(h.responses("r1")) == 1
    (suppressed,) = h.sent.audit("request.duplicate_suppressed")
    assert (suppressed["subject_id"], suppressed["tenant"]) == ("r1", "acme")


async def test_a_one_turn_request_stores_no_history() -> None:
    h = harness()
    await h.ask(request_id="r1", tenant="acme", prompt="one turn")
    await h.ask(request_id="r2", tenant="acme", session_id="", prompt="an empty session id is one turn too")
    assert h.sessions.table == {}, "a request without session_id stored history"


async def test_a_one_turn_request_reads_no_history_even_when_its_id_is_a_session_id() -> None:
    h = harness()
    await h.ask(request_id="a1", tenant="acme", session_id="s1", prompt="a session")
    await h.ask(request_id="s1", tenant="acme", prompt="one turn")
    assert h.service.histories["s1"] == []
    stored = owned_by("acme", h.sessions.get(table_key("acme", "s1")))
    assert stored is not None and [t["content"] for t in stored["turns"]] == ["a session", "answer to a session"]


async def test_entries_under_old_bare_keys_are_not_found_and_break_nothing() -> None:
    h = harness()
    # Left by the version before tenant keys: a session history and an answered request id, bare-keyed, and a
    # value under a bare id that spells a new key but names no tenant.
    old_turns = {"turns": [{"role": "user", "content": "old", "request_id": "r0"}]}
    h.sessions.table["s1"] = {"value": old_turns, "written_at": 1.0, "partition": 0}
    h.sessions.table[table_key("acme", "s2")] = old_turns
    h.flow.answered.table["r1"] = {"answered_at": "2026-11-01T00:00:00+00:00", "offset": 1, "status": "ok"}
    await h.ask(request_id="r1", tenant="acme", session_id="s1")
    await h.ask(request_id="r2", tenant="acme", session_id="s2")
    assert len(h.responses("r1")) == 1, "a request answered before the upgrade is answered again"
    assert h.service.histories["r1"] == [] and h.service.histories["r2"] == []
    assert {r["status"] for r in h.sent.on(INFERENCE_RESPONSES.name)} == {"ok"}


async def test_a_tenant_at_its_cap_loses_its_least_recently_used_session_and_no_one_elses() -> None:
    h = harness(max_sessions_per_tenant=2)
    await h.ask(request_id="o1", tenant="other", session_id="o")
    await h.ask(request_id="a1", tenant="acme", session_id="s1")
    await h.ask(request_id="a2", tenant="acme", session_id="s2")
    await h.ask(request_id="a3", tenant="acme", session_id="s1")  # s1 is used again: s2 is now the oldest
    await h.ask(request_id="a4", tenant="acme", session_id="s3")
    assert set(h.sessions.table) == {table_key("other", "o"), table_key("acme", "s1"), table_key("acme", "s3")}
    await h.ask(request_id="a5", tenant="acme", session_id="s2")
    assert h.service.histories["a5"] == [], "a dropped session starts over"
    assert h.service.histories["a3"] == ["hi", "answer to hi"]
    await h.ask(request_id="o2", tenant="other", session_id="o")
    assert h.service.histories["o2"] == ["hi", "answer to hi"], "another tenant's session was dropped"


# --- reply_to ------------------------------------------------------------------------------------------------------


RESPONSE_TOPICS = [INFERENCE_RESPONSES.name, "inference.responses.team-a.v1", "inference.responses.b.v2"]


@pytest.mark.parametrize("topic", RESPONSE_TOPICS)
def test_response_topics_are_allowed(topic: str) -> None:
    assert ReplyToRule.from_patterns().refusal(topic) is None


@pytest.mark.parametrize("topic", sorted(t.name for t in ALL_TOPICS if t.name != INFERENCE_RESPONSES.name))
def test_every_other_declared_topic_is_refused_even_when_a_pattern_would_allow_it(topic: str) -> None:
    assert topic in RESERVED_TOPICS
    for rule in (ReplyToRule.from_patterns(), ReplyToRule.from_patterns([".*"])):
        reason = rule.refusal(topic)
        assert reason is not None and "topic of Sluice's own" in reason and "SLUICE_REPLY_TO_PATTERNS" in reason


@pytest.mark.parametrize("topic", ["crm.notes.v1", "inference.responsesx.v1", "x.inference.responses.v1"])
def test_topics_matching_no_pattern_are_refused(topic: str) -> None:
    reason = ReplyToRule.from_patterns().refusal(topic)
    assert reason is not None and "matches none of SLUICE_REPLY_TO_PATTERNS" in reason and repr(topic) in reason


def test_configured_patterns_replace_the_default_and_must_match_whole_names() -> None:
    rule = ReplyToRule.from_patterns([r"chat\.answers\.v[0-9]+"])
    assert rule.refusal("chat.answers.v3") is None
    assert rule.refusal("chat.answers.v3x") is not None
    assert rule.refusal("inference.responses.team-a.v1") is not None
    assert rule.refusal(INFERENCE_RESPONSES.name) is None


def test_a_name_longer_than_kafka_allows_is_refused_without_being_echoed() -> None:
    topic = "inference.responses." + "a" * 300 + ".v1"
    reason = ReplyToRule.from_patterns().refusal(topic)
    assert reason is not None and "a" * 50 not in reason


@pytest.mark.parametrize("topic", sorted(RESERVED_TOPICS))
async def test_a_refused_reply_to_is_answered_on_the_response_topic_with_an_audit_event(topic: str) -> None:
    h = harness()
    await h.ask(request_id="r1", tenant="acme", session_id="s1", reply_to=topic)
    assert [m for m in h.sent.on(topic) if "request_id" in m] == [], "a response was written there"
    (answer,) = h.responses("r1")
    assert answer["status"] == "error" and answer["text"] == ""
    assert "reply_to" in answer["reason"] and "SLUICE_REPLY_TO_PATTERNS" in answer["reason"]
    assert "r1" not in h.service.histories and h.sessions.table == {}, "a refused request was processed"
    (refused,) = h.sent.audit("request.reply_to_refused")
    assert (refused["subject_id"], refused["tenant"]) == ("r1", "acme")
    (answered,) = h.sent.audit("request.answered")
    assert answered["details"]["reply_to"] == INFERENCE_RESPONSES.name and answered["details"]["status"] == "error"


async def test_an_allowed_reply_to_gets_the_response() -> None:
    h = harness()
    await h.ask(request_id="r1", tenant="acme", reply_to="inference.responses.team-a.v1")
    (answer,) = h.sent.on("inference.responses.team-a.v1")
    assert answer["status"] == "ok" and h.responses("r1") == []
    assert h.sent.audit("request.reply_to_refused") == []


async def test_a_request_naming_the_audit_topic_writes_nothing_there() -> None:
    h = harness()
    await h.ask(request_id="r1", tenant="acme", reply_to=AUDIT_EVENTS.name)
    assert not any(name == AUDIT_EVENTS.name for name, _, _ in h.sent.out)
    assert h.responses("r1")[0]["status"] == "error"


async def test_a_malformed_request_is_answered_on_the_response_topic() -> None:
    h = harness()
    await h.ask(request_id="r1", tenant="acme", prompt="", reply_to="inference.responses.team-a.v1")
    (answer,) = h.responses("r1")
    assert answer["status"] == "error" and "prompt" in answer["reason"]
    assert [name for name, _, _ in h.sent.out if name == "inference.requests.v1"] == []
