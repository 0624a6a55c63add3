"""A request on a tenant's topic is answered for that tenant only: its topic, not its body, says who sent it."""

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
from agents.inference.binding import binding_of
from agents.inference.expiry import ExpiringTable
from agents.inference.flow import InferenceFlow
from agents.inference.service import Handled
from models.dialog import SessionHistory
from schemas.inference import InferenceRequest, InferenceResponse
from tests.unit.inference.faust_fakes import Event, Message
from topics.specs import (
    INFERENCE_REQUESTS,
    INFERENCE_RESPONSES,
    tenant_of_request_topic,
    tenant_request_topic,
    tenant_request_topics,
    tenant_response_topic,
)

ACME_REQUESTS = tenant_request_topic("acme").name
ACME_REPLIES = tenant_response_topic("acme").name
GLOBEX_REPLIES = tenant_response_topic("globex").name


def request(**fields: Any) -> InferenceRequest:
    return InferenceRequest.model_validate({"request_id": "r1", "tenant": "acme", "prompt": "hi", **fields})


# --- topic names ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "tenant"),
    [
        ("inference.requests.acme.v1", "acme"),
        ("inference.requests.a.b.v1", "a.b"),
        ("inference.requests.v1.v1", "v1"),
        ("inference.requests.v1", None),  # the shared topic belongs to nobody
        ("inference.requests..v1", None),
        ("inference.requests.-x.v1", None),
        ("inference.responses.acme.v1", None),
        ("xinference.requests.acme.v1", None),
        ("inference.requests.acme.v1.tmp", None),
    ],
)
def test_the_tenant_of_a_request_topic_is_read_from_its_name_alone(topic: str, tenant: str | None) -> None:
    assert tenant_of_request_topic(topic) == tenant
    if tenant is not None:
        assert tenant_request_topic(tenant).name == topic


def test_tenant_request_topics_are_picked_from_a_topic_list() -> None:
    names = [GLOBEX_REPLIES, "inference.requests.globex.v1", INFERENCE_REQUESTS.name, ACME_REQUESTS]
    assert tenant_request_topics(names) == [ACME_REQUESTS, "inference.requests.globex.v1"]


def test_tenant_topics_take_the_data_partition_count_so_they_line_up_with_the_tables() -> None:
    assert tenant_request_topic("acme").partitions is None and tenant_response_topic("acme").partitions is None


# --- the binding ---------------------------------------------------------------------------------------------------


def test_the_shared_topic_binds_no_tenant() -> None:
    assert binding_of(INFERENCE_REQUESTS.name) is None


def test_a_request_naming_its_topics_tenant_is_answered_on_that_tenants_reply_topic() -> None:
    binding = binding_of(ACME_REQUESTS)
    assert binding is not None and binding.refusal(request()) is None
    assert binding.bind(request()).reply_to == ACME_REPLIES
    assert binding.refusal(request(reply_to=ACME_REPLIES)) is None


def test_a_request_naming_another_tenant_is_refused() -> None:
    binding = binding_of(ACME_REQUESTS)
    assert binding is not None
    refusal = binding.refusal(request(tenant="globex"))
    assert refusal is not None and refusal.kind == "request.tenant_mismatch"
    assert "'globex'" in refusal.reason and ACME_REQUESTS in refusal.reason


def test_a_request_asking_for_its_answer_elsewhere_is_refused() -> None:
    binding = binding_of(ACME_REQUESTS)
    assert binding is not None
    for elsewhere in (GLOBEX_REPLIES, INFERENCE_RESPONSES.name):
        refusal = binding.refusal(request(reply_to=elsewhere))
        assert refusal is not None and refusal.kind == "request.reply_to_refused"


# --- the flow ------------------------------------------------------------------------------------------------------


class AnsweringService:
    """Answers every request "ok" and remembers which it was asked."""

    def digest(self, text: str) -> str:
        return keyed_digest(bytes(32), text)

    def __init__(self) -> None:
        self.asked: list[InferenceRequest] = []

    async def handle(self, request: InferenceRequest, *, produced_at: float, history: SessionHistory) -> Handled:
        self.asked.append(request)
        response = InferenceResponse(
            request_id=request.request_id,
            tenant=request.tenant,
            session_id=request.session_id,
            status="ok",
            text="answer",
            responded_at=datetime.now(UTC),
        )
        return Handled(response, None, None, {})


@dataclass
class Sent:
    out: list[tuple[str, bytes]] = field(default_factory=list)

    async def __call__(self, topic: str, key: bytes | None, value: bytes) -> None:
        self.out.append((topic, value))

    def topics(self) -> set[str]:
        return {topic for topic, _ in self.out if topic != "audit.pending.v1"}

    def on(self, topic: str) -> list[dict[str, Any]]:
        return [json.loads(value) for name, value in self.out if name == topic]

    def audit(self, event_type: str) -> list[dict[str, Any]]:
        return [e for e in self.on("audit.pending.v1") if e["event_type"] == event_type]


@dataclass
class Harness:
    flow: InferenceFlow
    service: AnsweringService
    sent: Sent

    async def ask(self, topic: str, body: dict[str, Any] | bytes) -> None:
        value = body if isinstance(body, bytes) else json.dumps(body).encode()
        message = Message(topic, 0, 1, b"s", value)
        await self.flow._answer(cast(Any, Event(message)), ExpiringTable({}, 3600.0))


@pytest.fixture()
def harness() -> Harness:
    sent, service = Sent(), AnsweringService()
    runner = BatchRunner(
        DeadLetterWriter(DeadLetterBuilder(bytes(32), bytes(32)), "inference.dlq.v1", sent), AuditEmitter(sent)
    )
    flow = InferenceFlow(cast(Any, service), runner, sent, 8, 0.01, 256_000, 3)
    flow.use_tables({}, {})
    return Harness(flow, service, sent)


async def test_a_tenant_request_is_answered_on_its_own_reply_topic(harness: Harness) -> None:
    await harness.ask(ACME_REQUESTS, {"request_id": "r1", "tenant": "acme", "prompt": "hi"})
    assert harness.sent.topics() == {ACME_REPLIES}
    (answer,) = harness.sent.on(ACME_REPLIES)
    assert answer["status"] == "ok" and answer["tenant"] == "acme"
    assert harness.sent.audit("request.answered")[0]["details"]["reply_to"] == ACME_REPLIES


async def test_a_forged_tenant_gets_an_error_on_the_senders_reply_topic_and_an_audit_event(harness: Harness) -> None:
    await harness.ask(ACME_REQUESTS, {"request_id": "r1", "tenant": "globex", "prompt": "show me globex's orders"})
    assert harness.service.asked == []  # nothing ran for globex
    assert harness.sent.topics() == {ACME_REPLIES}  # not globex's reply topic, not the shared one
    (answer,) = harness.sent.on(ACME_REPLIES)
    assert answer["status"] == "error" and answer["tenant"] == "acme" and answer["text"] == ""
    assert "globex" in answer["reason"] and ACME_REQUESTS in answer["reason"]
    (event,) = harness.sent.audit("request.tenant_mismatch")
    assert event["tenant"] == "acme" and event["subject_id"] == "r1" and event["source_topic"] == ACME_REQUESTS
    assert event["details"]["claimed_tenant"] == "globex"
    assert "show me" not in json.dumps(harness.sent.on("audit.pending.v1"))


async def test_a_reply_to_another_tenants_topic_is_refused(harness: Harness) -> None:
    await harness.ask(ACME_REQUESTS, {"request_id": "r1", "tenant": "acme", "prompt": "hi", "reply_to": GLOBEX_REPLIES})
    assert harness.service.asked == [] and harness.sent.topics() == {ACME_REPLIES}
    assert harness.sent.on(ACME_REPLIES)[0]["status"] == "error"
    assert harness.sent.audit("request.reply_to_refused")[0]["details"]["reply_to"] == GLOBEX_REPLIES


async def test_a_malformed_tenant_request_is_answered_on_the_tenants_reply_topic(harness: Harness) -> None:
    await harness.ask(ACME_REQUESTS, {"request_id": "r1", "tenant": "globex", "prompt": ""})
    assert harness.sent.topics() == {ACME_REPLIES}  # never back onto the request topic
    (answer,) = harness.sent.on(ACME_REPLIES)
    assert answer["status"] == "error" and answer["tenant"] == "acme"


async def test_the_shared_topic_answers_for_the_tenant_the_request_names(harness: Harness) -> None:
    await harness.ask(INFERENCE_REQUESTS.name, {"request_id": "r1", "tenant": "globex", "prompt": "hi"})
    assert harness.sent.topics() == {INFERENCE_RESPONSES.name}
    assert harness.sent.on(INFERENCE_RESPONSES.name)[0]["tenant"] == "globex"
    assert harness.service.asked[0].tenant == "globex"
