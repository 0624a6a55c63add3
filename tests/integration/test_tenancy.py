"""Tenants on the real broker: another tenant's session id or request id changes nothing for the owner, and a
reply_to naming one of Sluice's own topics is refused (the audit chain stays intact)."""

from __future__ import annotations

import json
from typing import Any

from agents.core.kafka_io import read_topic
from agents.core.settings import Settings
from agents.tools.audit.commands import verify_topic
from tests.integration.conftest import wait_for
from tests.integration.helpers import values
from tests.integration.test_inference_flow import ask, responses
from topics.specs import ALL_TOPICS, AUDIT_EVENTS, INFERENCE_RESPONSES


def answer(bootstrap: str, request: dict[str, Any]) -> dict[str, Any]:
    """Ask one request and wait for its one response."""
    ask(bootstrap, [request])
    request_id = request["request_id"]
    found: dict[str, Any] = responses(bootstrap, request_id, 1)[request_id][0]
    return found


def chat(request_id: str, tenant: str, session_id: str, prompt: str) -> dict[str, Any]:
    # task chat: the history of the session goes into the prompt the model sees, so it shows in tokens.prompt.
    return {
        "request_id": request_id,
        "tenant": tenant,
        "session_id": session_id,
        "prompt": prompt,
        "task": "chat",
        "max_tokens": 4,
    }


def table_entries(bootstrap: str, changelog: str) -> dict[tuple[str, str], dict[str, Any] | None]:
    """The latest value per [tenant, id] key of an inference table, read from its changelog (None: deleted)."""
    latest: dict[tuple[str, str], dict[str, Any] | None] = {}
    for record in read_topic(bootstrap, changelog):
        try:
            key = json.loads(record.key or b"null")
            key = json.loads(key) if isinstance(key, str) else key  # a str table key, JSON-encoded by Faust
        except ValueError:
            continue
        if isinstance(key, list) and len(key) == 2 and all(isinstance(part, str) for part in key):
            latest[(key[0], key[1])] = json.loads(record.value) if record.value is not None else None
    return latest


def test_another_tenant_using_a_session_id_neither_sees_nor_extends_its_history(
    sluice_up: dict[str, Any], settings: Settings, bootstrap: str, tenant: str
) -> None:
    other = f"{tenant}b"
    session = f"{tenant}-s"
    question = "and where is it now?"
    first = answer(bootstrap, chat(f"{tenant}-a1", tenant, session, "my parcel number is 4711, it left on Monday"))
    assert first["status"] == "ok"
    # The other tenant sends a turn with the owner's session id (and the same Kafka key, so the same partition)...
    intruder = answer(bootstrap, chat(f"{other}-b1", other, session, question))
    # ...and the same question again in a session of its own that has no history at all.
    fresh = answer(bootstrap, chat(f"{other}-b2", other, f"{other}-fresh", question))
    assert intruder["status"] == fresh["status"] == "ok"
    assert intruder["tokens"]["prompt"] == fresh["tokens"]["prompt"], "the intruder's prompt held the owner's history"
    # The owner's session still has its own history, and only that: its next turn is longer than a fresh one.
    owner_next = answer(bootstrap, chat(f"{tenant}-a2", tenant, session, question))
    owner_fresh = answer(bootstrap, chat(f"{tenant}-a3", tenant, f"{tenant}-fresh", question))
    assert owner_next["tokens"]["prompt"] > owner_fresh["tokens"]["prompt"], "the owner's history was lost"

    changelog = f"{settings.app_id}-inference-sessions-changelog"
    entries = table_entries(bootstrap, changelog)
    owners = entries[(tenant, session)]
    intruders = entries[(other, session)]
    assert owners is not None and intruders is not None
    assert {t["request_id"] for t in owners["value"]["turns"]} == {f"{tenant}-a1", f"{tenant}-a2"}
    assert {t["request_id"] for t in intruders["value"]["turns"]} == {f"{other}-b1"}
    assert owners["value"]["tenant"] == tenant and intruders["value"]["tenant"] == other


def test_one_turn_requests_store_no_history(
    sluice_up: dict[str, Any], settings: Settings, bootstrap: str, tenant: str
) -> None:
    one_turn = {"request_id": f"{tenant}-one", "tenant": tenant, "prompt": "hi", "max_tokens": 4}
    assert answer(bootstrap, one_turn)["status"] == "ok"
    entries = table_entries(bootstrap, f"{settings.app_id}-inference-sessions-changelog")
    assert [key for key in entries if key[0] == tenant] == [], "a request without session_id stored history"


def test_another_tenant_sending_a_request_id_first_does_not_stop_the_owners_answer(
    sluice_up: dict[str, Any], bootstrap: str, tenant: str
) -> None:
    other = f"{tenant}b"
    request_id = f"{tenant}-r1"
    session = f"{tenant}-s"  # the same Kafka key for both: the same partition, the same table partition
    taken = answer(bootstrap, {"request_id": request_id, "tenant": other, "session_id": session, "prompt": "hi"})
    assert taken["tenant"] == other
    mine: dict[str, Any] = {"request_id": request_id, "tenant": tenant, "session_id": session, "prompt": "hi"}
    ask(bootstrap, [mine])

    def by_tenant() -> dict[str | None, int]:
        copies = responses(bootstrap, request_id, 1, timeout_s=10).get(request_id, [])
        counts: dict[str | None, int] = {}
        for copy in copies:
            counts[copy["tenant"]] = counts.get(copy["tenant"], 0) + 1
        return counts

    assert wait_for(lambda: (c := by_tenant()).get(tenant) and c, timeout_s=60) == {other: 1, tenant: 1}
    # A retry from the owner is still recognised as one.
    ask(bootstrap, [mine])
    suppressed = wait_for(
        lambda: [
            e
            for e in values(bootstrap, AUDIT_EVENTS.name, tenant=tenant)
            if e["event_type"] == "request.duplicate_suppressed"
        ],
        timeout_s=30,
    )
    assert [e["subject_id"] for e in suppressed] == [request_id]
    assert by_tenant() == {other: 1, tenant: 1}, "the retry was answered again"
    mine_answered = [e for e in values(bootstrap, AUDIT_EVENTS.name, tenant=tenant) if e["subject_id"] == request_id]
    assert [e["event_type"] for e in mine_answered].count("request.answered") == 1


def test_a_reply_to_naming_an_internal_topic_is_refused_and_the_audit_chain_stays_intact(
    sluice_up: dict[str, Any], settings: Settings, bootstrap: str, tenant: str
) -> None:
    internal = sorted(t.name for t in ALL_TOPICS if t.name != INFERENCE_RESPONSES.name)
    requests = {
        f"{tenant}-rt{i}": {"request_id": f"{tenant}-rt{i}", "tenant": tenant, "prompt": "hi", "reply_to": topic}
        for i, topic in enumerate(internal)
    }
    ask(bootstrap, list(requests.values()))
    found = wait_for(lambda: len(f := responses(bootstrap, f"{tenant}-rt", len(requests))) == len(requests) and f)
    for request_id, copies in found.items():
        topic = requests[request_id]["reply_to"]
        assert len(copies) == 1
        assert copies[0]["status"] == "error" and copies[0]["text"] == ""
        assert topic in copies[0]["reason"] and "SLUICE_REPLY_TO_PATTERNS" in copies[0]["reason"]

    refused = wait_for(
        lambda: (
            len(
                r := [
                    e
                    for e in values(bootstrap, AUDIT_EVENTS.name, tenant=tenant)
                    if e["event_type"] == "request.reply_to_refused"
                ]
            )
            == len(requests)
            and r
        ),
        timeout_s=60,
    )
    assert {e["subject_id"] for e in refused} == set(requests)
    # No response reached any of the topics named (the requests themselves are on inference.requests.v1).
    for topic in internal:
        strays = [
            m
            for m in values(bootstrap, topic)
            if "responded_at" in m and str(m.get("request_id", "")).startswith(f"{tenant}-rt")
        ]
        assert strays == [], f"a response was written to {topic}"
    # What `sluice audit verify` runs: every partition's chain and checkpoints still hold.
    report = verify_topic(settings, AUDIT_EVENTS.name)
    assert report.intact, json.dumps(report.to_json(), indent=1)[:4000]
