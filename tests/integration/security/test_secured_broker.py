"""Secure mode on the real broker: a wrong password, a missing ACL and a forged tenant are each refused, while every
principal can do its own job (workers as their roles, upstream producers, tenants, the compliance reader)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import aiokafka
import pytest
from click.testing import CliRunner
from confluent_kafka import Consumer, KafkaError, Producer
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from agents.cli import main
from agents.core.app import broker_credentials
from agents.core.kafka_io import read_topic
from agents.core.settings import load_settings
from agents.processes.access import client_group_prefix, tenant_principal
from tests.integration.conftest import wait_for
from tests.integration.helpers import event
from tests.integration.security.conftest import SecuredSluice
from topics.specs import (
    AUDIT_EVENTS,
    CRM_EVENTS,
    ERP_EVENTS,
    INFERENCE_REQUESTS,
    RECORDS_INDEXED,
    tenant_request_topic,
    tenant_response_topic,
)

TOPIC_AUTHORIZATION_FAILED = KafkaError.TOPIC_AUTHORIZATION_FAILED


def produce_one(options: dict[str, str], topic: str, value: bytes, key: bytes = b"k") -> tuple[Any, list[KafkaError]]:
    """(delivery error or None, client errors) of one message, giving up after a few seconds."""
    errors: list[KafkaError] = []
    outcome: list[Any] = []
    producer = Producer({**options, "message.timeout.ms": 6000, "error_cb": errors.append})
    producer.produce(topic, key=key, value=value, on_delivery=lambda err, _msg: outcome.append(err))
    producer.flush(15)
    return (outcome[0] if outcome else "undelivered"), errors


def error_code(outcome: Any) -> Any:
    return outcome.code() if isinstance(outcome, KafkaError) else outcome


def ask(secured: SecuredSluice, tenant: str, body: dict[str, Any], *, topic: str | None = None) -> None:
    """Produce a request as tenant-<tenant> would: its own principal, its own request topic unless told."""
    outcome, errors = produce_one(
        secured.options(tenant_principal(tenant)),
        topic or tenant_request_topic(tenant).name,
        json.dumps(body).encode(),
        key=str(body.get("session_id") or body["request_id"]).encode(),
    )
    assert outcome is None, (outcome, errors)


def replies(secured: SecuredSluice, tenant: str, request_id: str, *, timeout_s: float = 150.0) -> list[dict[str, Any]]:
    """The responses to `request_id` on tenant's reply topic, read as that tenant in a consumer group of its own."""
    principal = tenant_principal(tenant)
    consumer = Consumer(
        {
            **secured.options(principal),
            "group.id": f"{client_group_prefix(principal)}{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([tenant_response_topic(tenant).name])
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                if found:  # one quiet poll after the answer: a second answer would show up here
                    break
                continue
            error = message.error()
            assert error is None or error.code() == KafkaError._PARTITION_EOF, error
            body = json.loads(message.value() or b"{}")
            if body.get("request_id") == request_id:
                found.append(body)
    finally:
        consumer.close()
    return found


def audit_events(secured: SecuredSluice, event_type: str, subject_id: str) -> list[dict[str, Any]]:
    """Sealed audit events, read as the compliance principal."""
    records = read_topic(secured.bootstrap, AUDIT_EVENTS.name, options=secured.options("compliance"))
    events = [json.loads(r.value or b"{}") for r in records]
    return [e for e in events if e.get("event_type") == event_type and e.get("subject_id") == subject_id]


# --- a wrong password ------------------------------------------------------------------------------------------------


def test_a_wrong_password_is_refused_to_a_confluent_client(secured: SecuredSluice) -> None:
    outcome, errors = produce_one(secured.options("producer-erp", "not-the-password"), ERP_EVENTS.name, b"{}")
    assert outcome is not None, "a client with a wrong password delivered a message"
    assert KafkaError._AUTHENTICATION in {e.code() for e in errors}
    # The right password, same principal, same topic: delivered.
    assert produce_one(secured.options("producer-erp"), ERP_EVENTS.name, b"{}")[0] is None


async def test_a_wrong_password_is_refused_to_a_workers_faust_client(secured: SecuredSluice) -> None:
    """The workers' clients (aiokafka under Faust) take their credentials from the same settings."""

    async def start(password: str | None) -> Exception | None:
        settings = load_settings(
            var_dir=secured.settings.var_dir, secure=True, kafka_username="worker-index", kafka_password=password
        )
        producer = aiokafka.AIOKafkaProducer(
            bootstrap_servers=secured.bootstrap,
            request_timeout_ms=10_000,
            **credentials_to_aiokafka_auth(broker_credentials(settings.kafka_security())),
        )
        try:
            await producer.start()
            return None
        except Exception as exc:
            return exc
        finally:
            await producer.stop()

    assert await start(None) is None
    refused = await start("not-the-password")
    assert refused is not None and "bootstrap" in str(refused).lower()


# --- a missing ACL ---------------------------------------------------------------------------------------------------


def test_an_upstream_producer_writes_only_its_own_source_topic(secured: SecuredSluice) -> None:
    erp = secured.options("producer-erp")
    assert error_code(produce_one(erp, CRM_EVENTS.name, b"{}")[0]) == TOPIC_AUTHORIZATION_FAILED
    assert error_code(produce_one(erp, RECORDS_INDEXED.name, b"{}")[0]) == TOPIC_AUTHORIZATION_FAILED


@pytest.mark.parametrize("principal", ["worker-deidentify", "worker-inference", "tenant-acme", "compliance"])
def test_only_the_chainer_writes_the_audit_chain(secured: SecuredSluice, principal: str) -> None:
    outcome, _ = produce_one(secured.options(principal), AUDIT_EVENTS.name, b'{"forged": true}')
    assert error_code(outcome) == TOPIC_AUTHORIZATION_FAILED


def test_a_tenant_cannot_read_another_tenants_replies(secured: SecuredSluice) -> None:
    principal = tenant_principal("acme")
    consumer = Consumer(
        {
            **secured.options(principal),
            "group.id": f"{client_group_prefix(principal)}{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([tenant_response_topic("globex").name])
    seen: list[Any] = []
    deadline = time.monotonic() + 20
    try:
        while time.monotonic() < deadline and not seen:
            message = consumer.poll(0.5)
            if message is not None:
                seen.append(message.error().code() if message.error() else message.value())
    finally:
        consumer.close()
    assert seen == [TOPIC_AUTHORIZATION_FAILED]


def test_a_tenant_cannot_write_another_tenants_or_the_shared_request_topic(secured: SecuredSluice) -> None:
    acme = secured.options(tenant_principal("acme"))
    body = json.dumps({"request_id": "forged", "tenant": "globex", "prompt": "globex's orders?"}).encode()
    for topic in (tenant_request_topic("globex").name, INFERENCE_REQUESTS.name):
        assert error_code(produce_one(acme, topic, body)[0]) == TOPIC_AUTHORIZATION_FAILED, topic


# --- a forged tenant -------------------------------------------------------------------------------------------------


def test_a_tenant_is_answered_on_its_own_reply_topic(secured: SecuredSluice) -> None:
    request_id = f"acme-{uuid.uuid4().hex[:8]}"
    ask(secured, "acme", {"request_id": request_id, "tenant": "acme", "prompt": "where is my order?", "max_tokens": 4})
    (answer,) = replies(secured, "acme", request_id)
    assert answer["status"] == "ok" and answer["tenant"] == "acme"
    audited = wait_for(lambda: audit_events(secured, "request.answered", request_id), timeout_s=60, interval_s=2)
    assert audited[0]["details"]["reply_to"] == tenant_response_topic("acme").name


def test_a_forged_tenant_gets_an_error_response_and_an_audit_event(secured: SecuredSluice) -> None:
    request_id = f"forged-{uuid.uuid4().hex[:8]}"
    # tenant-acme may write only its own topic: there it claims to be globex.
    ask(secured, "acme", {"request_id": request_id, "tenant": "globex", "prompt": "list globex's invoices"})
    (answer,) = replies(secured, "acme", request_id)
    assert answer["status"] == "error" and answer["tenant"] == "acme" and answer["text"] == ""
    assert "'globex'" in answer["reason"] and tenant_request_topic("acme").name in answer["reason"]
    (mismatch,) = wait_for(
        lambda: audit_events(secured, "request.tenant_mismatch", request_id), timeout_s=60, interval_s=2
    )
    assert mismatch["tenant"] == "acme" and mismatch["details"]["claimed_tenant"] == "globex"
    assert mismatch["source_topic"] == tenant_request_topic("acme").name
    assert replies(secured, "globex", request_id, timeout_s=5) == []  # globex received nothing


# --- every role does its job as its own principal ---------------------------------------------------------------------


def test_an_upstream_event_is_indexed_by_workers_running_as_their_roles(secured: SecuredSluice) -> None:
    event_id = f"e-{uuid.uuid4().hex[:8]}"
    payload = {"doc_type": "order", "doc_no": "SO-9", "remarks": "expedite"}
    outcome, errors = produce_one(
        secured.options("producer-erp"), ERP_EVENTS.name, event(event_id, "acme", payload), key=event_id.encode()
    )
    assert outcome is None, (outcome, errors)
    admin = secured.options("admin")

    def indexed() -> list[dict[str, Any]]:
        records = read_topic(secured.bootstrap, RECORDS_INDEXED.name, options=admin)
        acks = [json.loads(r.value or b"{}") for r in records]
        return [a for a in acks if a.get("lineage", {}).get("event_id") == event_id]

    assert wait_for(indexed, timeout_s=120, interval_s=2)
    workers = {p["role"] for p in secured.status["processes"]}
    assert {"deidentify", "index", "audit", "inference"} <= workers


def test_the_compliance_reader_verifies_the_audit_chain_and_can_do_nothing_else(secured: SecuredSluice) -> None:
    # Something to verify, whichever tests ran before: one answered request leaves its audit events.
    request_id = f"acme-{uuid.uuid4().hex[:8]}"
    ask(secured, "acme", {"request_id": request_id, "tenant": "acme", "prompt": "hello", "max_tokens": 4})
    replies(secured, "acme", request_id, timeout_s=180)
    # The chain's tail is authenticated by the next signed checkpoint, written within seconds of going quiet.
    deadline = time.monotonic() + 90
    while True:
        result = CliRunner().invoke(main, ["audit", "verify", "--json"], env={"SLUICE_KAFKA_USERNAME": "compliance"})
        if result.exit_code == 0 or time.monotonic() > deadline:
            break
        time.sleep(5)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["intact"] is True and sum(p["events"] for p in report["partitions"]) > 0
    compliance = secured.options("compliance")
    for topic in (tenant_request_topic("acme").name, ERP_EVENTS.name):
        assert error_code(produce_one(compliance, topic, b"{}")[0]) == TOPIC_AUTHORIZATION_FAILED


def test_a_tenant_added_while_running_is_answered_and_listed(secured: SecuredSluice) -> None:
    runner = CliRunner()
    added = runner.invoke(main, ["tenants", "add", "initech", "--json"])
    assert added.exit_code == 0, added.output
    facts = json.loads(added.output)
    assert facts["principal"] == "tenant-initech"
    password = secured.settings.principal_password("tenant-initech").get_secret_value()
    assert password not in added.output  # where it is, never what it is
    listed = runner.invoke(main, ["tenants", "list", "--json"])
    assert [row["tenant"] for row in json.loads(listed.output)] == ["acme", "globex", "initech"]
    # The inference worker restarts itself to subscribe to the new topic; the request waits there meanwhile. The
    # restart (model load, warm-up, table recovery) took 29 s in one run on two busy cores, so the request carries a
    # deadline past the default 30 s: this test is about being answered at all, not about how fast a restart is.
    request_id = f"initech-{uuid.uuid4().hex[:8]}"
    body = {"request_id": request_id, "tenant": "initech", "prompt": "hello", "max_tokens": 4, "deadline_ms": 180_000}
    ask(secured, "initech", body)
    (answer,) = replies(secured, "initech", request_id, timeout_s=180)
    assert answer["status"] == "ok" and answer["tenant"] == "initech"
