"""The inference path on the real broker with a tiny real model: plain Kafka clients in, one response out each."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import datetime
from typing import Any

from confluent_kafka import Consumer, Producer

from agents.core.kafka_io import read_topic
from agents.core.settings import Settings
from agents.tools.ab_report import compare_variants, first_response_times
from tests.integration.conftest import wait_for
from tests.integration.helpers import event, key_digest, produce, values


def ask(bootstrap: str, requests: list[dict[str, Any]]) -> None:
    """Produce requests the way any client would: plain JSON, key = session id, no Sluice code."""
    producer = Producer({"bootstrap.servers": bootstrap})
    for request in requests:
        key = (request.get("session_id") or request.get("request_id") or "none").encode()
        producer.produce("inference.requests.v1", key=key, value=json.dumps(request, ensure_ascii=False).encode())
    assert producer.flush(30) == 0


def responses_reader(bootstrap: str, offset_reset: str) -> Consumer:
    """A read_committed consumer of the responses topic in a group of its own (as a client would read)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"t-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": offset_reset,
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe(["inference.responses.v1"])
    return consumer


def responses(bootstrap: str, prefix: str, expected: int, timeout_s: float = 120) -> dict[str, list[dict[str, Any]]]:
    """Every response whose request id starts with prefix, keeping duplicates so a test can see them."""
    consumer = responses_reader(bootstrap, "earliest")
    found: dict[str, list[dict[str, Any]]] = {}
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                if len(found) >= expected and message is None:
                    # Everything arrived; one more quiet poll lets a duplicate show up if there is one.
                    break
                continue
            body = json.loads(message.value())
            if body["request_id"].startswith(prefix):
                found.setdefault(body["request_id"], []).append(body)
    finally:
        consumer.close()
    return found


def test_concurrent_requests_from_a_plain_client_get_exactly_one_response_each(
    sluice_up: dict[str, Any], bootstrap: str, tenant: str
) -> None:
    prefix = f"{tenant}-"
    requests = [
        {
            "request_id": f"{prefix}{i}",
            "tenant": tenant,
            "session_id": f"{tenant}-s{i % 6}",
            "prompt": f"question {i}: where is my order?",
            "max_tokens": 8,
            "priority": i % 3,
        }
        for i in range(36)
    ]
    threads = [threading.Thread(target=ask, args=(bootstrap, requests[i::3])) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    found = responses(bootstrap, prefix, len(requests))
    assert set(found) == {r["request_id"] for r in requests}
    assert all(len(copies) == 1 for copies in found.values()), "a request was answered twice"
    answers = [copies[0] for copies in found.values()]
    assert {a["status"] for a in answers} == {"ok"}
    assert {a["model"] for a in answers} == {"tiny-llama@v1"} and {a["variant"] for a in answers} == {"A"}
    assert max(a["batch_size"] for a in answers) > 1, "concurrent requests should share generate_batch calls"
    assert all(a["tokens"]["completion"] <= 8 for a in answers)
    # Audit events reach audit.events.v1 through the chainer, a commit after the responses.
    audit = wait_for(
        lambda: len(a := answered_events(bootstrap, tenant)) >= len(found) and a, timeout_s=30, interval_s=1
    )
    assert {e["subject_id"] for e in audit} == set(found) and len(audit) == len(found)
    assert all(len(e["details"]["prompt_sha256"]) == 64 and "where is my order" not in json.dumps(e) for e in audit)
    # `sluice ab report`'s client-side latency: request record → response record, never less than the worker's own.
    times = first_response_times(read_topic(bootstrap, "inference.responses.v1"))
    seen = {e["subject_id"]: times[(tenant, e["subject_id"])] - e["details"]["request_produced_at_ms"] for e in audit}
    assert all(seen[e["subject_id"]] >= e["timings_ms"]["total"] - 5 for e in audit), (seen, audit)
    row = compare_variants(audit, response_times=times)["tiny-llama@v1 [A]"]
    assert row["client_latency_ms"][50] >= row["latency_ms"][50] > 0


def test_malformed_requests_get_an_error_response_or_a_dead_letter(
    sluice_up: dict[str, Any], bootstrap: str, tenant: str
) -> None:
    bad_id = f"{tenant}-bad"
    ask(bootstrap, [{"request_id": bad_id, "tenant": tenant, "prompt": "", "max_tokens": 0}])
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce("inference.requests.v1", key=tenant.encode(), value=b'{"prompt": "no id", ')
    producer.flush(30)
    found = responses(bootstrap, bad_id, 1)
    (answer,) = found[bad_id]
    assert answer["status"] == "error" and "prompt" in answer["reason"] and "max_tokens" in answer["reason"]
    key_hash = key_digest(tenant.encode())
    letters = wait_for(lambda: [d for d in values(bootstrap, "inference.dlq.v1") if d["key_sha256"] == key_hash])
    assert letters[0]["error_type"] == "MalformedJsonError" and letters[0]["source_topic"] == "inference.requests.v1"


def test_policy_answers_without_the_model_and_queues_reviews_with_a_draft(
    sluice_up: dict[str, Any], bootstrap: str, tenant: str
) -> None:
    ask(
        bootstrap,
        [
            {"request_id": f"{tenant}-hours", "tenant": tenant, "prompt": "营业时间是几点？"},
            {"request_id": f"{tenant}-legal", "tenant": tenant, "prompt": "我们要起诉你们"},
        ],
    )
    found = responses(bootstrap, tenant, 2)
    assert found[f"{tenant}-hours"][0]["status"] == "ok" and found[f"{tenant}-hours"][0]["model"] == "policy"
    assert found[f"{tenant}-legal"][0]["status"] == "pending_review"
    review = wait_for(lambda: [r for r in values(bootstrap, "review.pending.v1", tenant=tenant)])
    # The item carries what a reviewer needs, de-identified (this prompt holds no PII, so it reads as sent).
    assert review[0]["request_id"] == f"{tenant}-legal" and review[0]["prompt"] == "我们要起诉你们"
    assert review[0]["rule_id"] == "default.legal_review" and review[0]["draft_model"] == "tiny-llama@v1"


def test_retrieval_never_crosses_tenants(
    sluice_up: dict[str, Any], bootstrap: str, tenant: str, settings: Settings
) -> None:
    other = f"{tenant}o"
    produce(
        bootstrap,
        [
            (
                "crm.events.v1",
                b"mine",
                event(
                    "mine", tenant, {"customer_id": "C-1", "channel": "phone", "notes": "refund for the blue kettle"}
                ),
            ),
            (
                "crm.events.v1",
                b"theirs",
                event(
                    "theirs", other, {"customer_id": "C-2", "channel": "phone", "notes": "refund for the blue kettle"}
                ),
            ),
        ],
    )
    wait_for(
        lambda: (
            len(values(bootstrap, "records.indexed.v1", tenant=tenant)) == 1
            and len(values(bootstrap, "records.indexed.v1", tenant=other)) == 1
        ),
        timeout_s=90,
    )
    mine = values(bootstrap, "records.indexed.v1", tenant=tenant)[0]["record_id"]
    ask(
        bootstrap,
        [{"request_id": f"{tenant}-rag", "tenant": tenant, "prompt": "refund for the blue kettle?", "max_tokens": 4}],
    )
    responses(bootstrap, f"{tenant}-rag", 1)
    audit = wait_for(
        lambda: [e for e in values(bootstrap, "audit.events.v1", tenant=tenant) if e["subject_id"] == f"{tenant}-rag"]
    )
    assert audit[0]["details"]["retrieved"] == [mine]


def test_model_switch_under_load_drops_no_request(
    sluice_up: dict[str, Any], bootstrap: str, tenant: str, settings: Settings
) -> None:
    from models.registry import Registry, import_model
    from schemas.inference import RegistryMessage

    root = settings.resolved_registry_dir
    import_model("tiny-llama", name="tiny-llama", version="v2", quantization="float32", root=root, progress=False)
    registry = Registry(root)
    prefix = f"{tenant}-sw"
    total = 40

    def load() -> None:
        for i in range(total):
            ask(
                bootstrap,
                [
                    {
                        "request_id": f"{prefix}{i}",
                        "tenant": tenant,
                        "session_id": f"{tenant}-{i % 5}",
                        "prompt": f"switch test {i}",
                        "max_tokens": 6,
                    }
                ],
            )
            time.sleep(0.1)

    def publish(state: dict[str, Any]) -> None:
        message = RegistryMessage(name="tiny-llama", state=state)
        produce(bootstrap, [("models.registry.v1", b"tiny-llama", message.model_dump_json().encode())])

    sender = threading.Thread(target=load)
    sender.start()
    try:
        time.sleep(1.5)
        publish(registry.promote("tiny-llama", "v2").entry("tiny-llama").to_dict())
        sender.join()
        found = responses(bootstrap, prefix, total)
    finally:
        sender.join()
        publish(registry.promote("tiny-llama", "v1").entry("tiny-llama").to_dict())
    assert len(found) == total and all(len(copies) == 1 for copies in found.values())
    answers = [copies[0] for copies in found.values()]
    assert {a["status"] for a in answers} == {"ok"}
    assert {a["model"] for a in answers} == {"tiny-llama@v1", "tiny-llama@v2"}, "the switch happened mid-load"
    switches = wait_for(
        lambda: [e for e in values(bootstrap, "audit.events.v1") if e["event_type"] == "model.switched"], timeout_s=30
    )
    assert switches, "every switch is an audit event"


def test_policy_pack_published_on_rules_topic_applies_without_restart(
    sluice_up: dict[str, Any], bootstrap: str, tenant: str
) -> None:
    from schemas.records import RulePackMessage

    pack = {
        "name": f"t{tenant}",
        "version": "1.0.0",
        "priority": 5,
        "rules": [
            {
                "id": f"t{tenant}.kettle",
                "when": {"keywords": [f"kettle-{tenant}"], "tenants": [tenant]},
                "action": "answer",
                "text": "Kettles ship on Mondays.",
            }
        ],
    }
    message = RulePackMessage(name=pack["name"], kind="policy", pack=pack)  # type: ignore[arg-type]
    produce(bootstrap, [("rules.v1", message.key.encode(), message.model_dump_json().encode())])
    attempt = 0

    def answered_by_policy() -> bool:
        nonlocal attempt
        attempt += 1
        request_id = f"{tenant}-pol{attempt}"
        ask(
            bootstrap,
            [
                {
                    "request_id": request_id,
                    "tenant": tenant,
                    "prompt": f"when does kettle-{tenant} ship?",
                    "max_tokens": 4,
                }
            ],
        )
        answer = responses(bootstrap, request_id, 1)[request_id][0]
        return answer["model"] == "policy" and answer["text"] == "Kettles ship on Mondays."

    wait_for(answered_by_policy, timeout_s=90, interval_s=0.5)
    # Remove it again (a Kafka tombstone on its key), so the pack does not outlive the test.
    produce(bootstrap, [("rules.v1", message.key.encode(), None)])


def answered_events(bootstrap: str, tenant: str) -> list[dict[str, Any]]:
    return [e for e in values(bootstrap, "audit.events.v1", tenant=tenant) if e["event_type"] == "request.answered"]


def test_a_request_id_sent_twice_is_answered_once_and_the_repeat_is_audited(
    sluice_up: dict[str, Any], bootstrap: str, tenant: str
) -> None:
    prefix = f"{tenant}-dup-"
    request_id = f"{prefix}1"
    request: dict[str, Any] = {
        "request_id": request_id,
        "tenant": tenant,
        "session_id": f"{tenant}-s",
        "prompt": "hi",
        "max_tokens": 4,
    }
    ask(bootstrap, [request])
    assert len(responses(bootstrap, prefix, 1)[request_id]) == 1
    ask(bootstrap, [request])  # a client retry: same id, same session key

    def suppressed_events() -> list[dict[str, Any]]:
        events = values(bootstrap, "audit.events.v1", tenant=tenant)
        return [e for e in events if e["event_type"] == "request.duplicate_suppressed"]

    try:
        # Audit events take one more hop than responses (audit.pending.v1, then the chainer): 60 s, as elsewhere.
        suppressed = wait_for(suppressed_events, timeout_s=60)
    except AssertionError as timed_out:
        # Say which way it failed: answered twice (the table lost the id) or suppressed but never audited.
        answers = responses(bootstrap, prefix, 1)[request_id]
        types = [e["event_type"] for e in values(bootstrap, "audit.events.v1", tenant=tenant)]
        failure = f"no duplicate_suppressed event in 60 s; {len(answers)} response(s), events {types}"
        raise AssertionError(failure) from timed_out
    assert [e["subject_id"] for e in suppressed] == [request_id]
    assert len(responses(bootstrap, prefix, 1)[request_id]) == 1, "the retry was answered again"


def test_a_request_id_is_forgotten_after_its_retention_and_the_table_entry_deleted(
    sluice_up: dict[str, Any], settings: Settings, bootstrap: str, tenant: str
) -> None:
    retention_s = settings.answered_request_retention_s
    assert retention_s <= 30, "the integration session sets a short retention (conftest)"

    def request(name: str) -> dict[str, Any]:
        # One session key: every request lands in the partition of the first one.
        return {"request_id": f"{tenant}-exp-{name}", "tenant": tenant, "session_id": f"{tenant}-s", "prompt": "hi"}

    first = request("first")
    first_id = first["request_id"]
    ask(bootstrap, [first])
    assert len(responses(bootstrap, first_id, 1)[first_id]) == 1
    time.sleep(retention_s + 1)
    changelog = f"{settings.app_id}-inference-answered_requests-changelog"
    later = (request(f"later-{n}") for n in range(1_000))

    def forgotten() -> bool:
        # Each request forgets at most 8 expired entries of its partition, oldest first, and earlier tests
        # left some there: later requests drain them until the first one goes too.
        following = next(later)
        ask(bootstrap, [following])
        assert len(responses(bootstrap, following["request_id"], 1)[following["request_id"]]) == 1
        # Deleted from the table, not just ignored: a tombstone on the changelog lets compaction drop the entry
        # (committed in the same transaction as the response just read).
        records = read_topic(bootstrap, changelog)
        return any(r.value is None and first_id in (r.key or b"").decode() for r in records)

    wait_for(forgotten, timeout_s=180, interval_s=0)
    ask(bootstrap, [first])
    wait_for(lambda: len(responses(bootstrap, first_id, 1, timeout_s=10).get(first_id, [])) == 2, timeout_s=60)


def test_an_answer_is_visible_when_it_is_made_not_when_its_micro_batch_is_done(
    sluice_up: dict[str, Any], bootstrap: str, tenant: str
) -> None:
    # A burst of sessions, four turns each: micro-batches hold turns of the same session, answered one after the
    # other. Each request is acknowledged when it is answered, so its response commits at the next commit (0.1 s),
    # not once every request taken with it is answered (which here takes seconds).
    requests = [
        {
            "request_id": f"{tenant}-s{s}-t{t}",
            "tenant": tenant,
            "session_id": f"{tenant}-s{s}",
            "prompt": f"turn {t}: where is my order?",
            "max_tokens": 300,
        }
        for s in range(8)
        for t in range(4)
    ]
    consumer = responses_reader(bootstrap, "latest")
    wait_for(lambda: consumer.poll(0.2) is None and bool(consumer.assignment()), timeout_s=30, interval_s=0)
    ask(bootstrap, requests)
    lag: dict[str, float] = {}  # seen by this client − answered by the worker, in seconds
    deadline = time.monotonic() + 180
    try:
        while len(lag) < len(requests) and time.monotonic() < deadline:
            message = consumer.poll(0.05)
            if message is None or message.error():
                continue
            body = json.loads(message.value())
            if body["request_id"].startswith(f"{tenant}-s") and body["request_id"] not in lag:
                lag[body["request_id"]] = time.time() - datetime.fromisoformat(body["responded_at"]).timestamp()
    finally:
        consumer.close()
    assert len(lag) == len(requests)
    ordered = sorted(lag.values())
    assert ordered[int(len(ordered) * 0.9)] < 1.0, f"answers waited for their micro-batch: lags {ordered}"


def test_turns_sent_at_once_are_answered_in_order_each_with_the_history_before_it(
    sluice_up: dict[str, Any], bootstrap: str, tenant: str
) -> None:
    # A client that sends a session's turns without waiting for answers: each turn must be answered after the one
    # before it and see its exchange. (Several actors with a lock per session answered them in whatever order the
    # actors reached the lock: turn 3 before turn 0, each with the wrong history.)
    sessions, turns = 6, 4
    requests = [
        {
            "request_id": f"{tenant}-o{s}-t{t}",
            "tenant": tenant,
            "session_id": f"{tenant}-o{s}",
            "prompt": f"turn {t}: where is my order?",
            "max_tokens": 8,
        }
        for s in range(sessions)
        for t in range(turns)
    ]
    ask(bootstrap, requests)
    found = responses(bootstrap, f"{tenant}-o", len(requests), timeout_s=180)
    assert len(found) == len(requests)
    for s in range(sessions):
        answers = [found[f"{tenant}-o{s}-t{t}"][0] for t in range(turns)]
        assert {a["status"] for a in answers} == {"ok"}, answers
        answered_at = [datetime.fromisoformat(a["responded_at"]) for a in answers]
        assert answered_at == sorted(answered_at), f"session {s} answered out of order: {answered_at}"
        prompt_tokens = [a["tokens"]["prompt"] for a in answers]
        assert prompt_tokens == sorted(set(prompt_tokens)), f"session {s}: a turn missed an earlier one {prompt_tokens}"
