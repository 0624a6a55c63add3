"""The ingest flow on the real broker, a real worker, Milvus Lite and tiny real models."""

from __future__ import annotations

import json
import os
import signal
import time
from typing import Any

from agents.core.kafka_io import end_offsets, produce_all
from agents.core.settings import Settings
from agents.processes import runtime
from agents.processes.broker import pid_alive
from tests.integration.conftest import api, wait_for
from tests.integration.helpers import event, key_digest, produce, raw_values, values, worker_child
from topics.specs import TOPIC_MAX_MESSAGE_BYTES

PHONE = "13912345678"
ID_NUMBER = "11010519491231002X"
EMAIL = "li.lei@example.com"


def crm(event_id: str, tenant: str, notes: str, **contact: str) -> tuple[str, bytes, bytes]:
    payload: dict[str, Any] = {"customer_id": "C-1", "channel": "phone", "notes": notes}
    if contact:
        payload["contact"] = contact
    return ("crm.events.v1", event_id.encode(), event(event_id, tenant, payload))


def records_of(sluice_up: dict[str, Any], tenant: str) -> dict[str, Any]:
    path = f"/records?tenant={tenant}&limit=500"
    return api(sluice_up["api_url"], path, token=sluice_up["api_token"])  # type: ignore[no-any-return]


def test_events_become_vectors_acks_and_audit_events_without_raw_pii(
    sluice_up: dict[str, Any], bootstrap: str, tenant: str
) -> None:
    produce(
        bootstrap,
        [
            crm("e-1", tenant, f"客户来电，手机{PHONE}，身份证{ID_NUMBER}，要求退货。", email=EMAIL),
            (
                "erp.events.v1",
                b"e-2",
                event("e-2", tenant, {"doc_type": "order", "doc_no": "SO-1", "remarks": "阿莫西林 500MG bid"}),
            ),
            (
                "logs.events.v1",
                b"e-3",
                event(
                    "e-3",
                    tenant,
                    {
                        "level": "WARN",
                        "service": "auth",
                        "message": f"login failed for {EMAIL} from 10.1.2.3",
                    },
                ),
            ),
        ],
    )
    stored = wait_for(lambda: (r := records_of(sluice_up, tenant))["total"] == 3 and r, timeout_s=90)
    texts = "\n".join(r["text"] for r in stored["records"])
    assert PHONE not in texts and ID_NUMBER not in texts and EMAIL not in texts and "10.1.2.3" not in texts
    assert "每日两次" in texts and "500 mg" in texts  # the medical rule pack ran
    assert {r["lineage"]["topic"] for r in stored["records"]} == {
        "crm.events.v1",
        "erp.events.v1",
        "logs.events.v1",
    }

    acks = wait_for(lambda: len(a := values(bootstrap, "records.indexed.v1", tenant=tenant)) >= 3 and a)
    assert {a["action"] for a in acks} == {"indexed"}
    assert {a["record_id"] for a in acks} == {r["record_id"] for r in stored["records"]}

    deidentified = values(bootstrap, "records.deidentified.v1", tenant=tenant)
    crm_record = next(r for r in deidentified if r["kind"] == "crm.note")
    assert crm_record["entity_counts"]["CN_MOBILE"] >= 1 and crm_record["entity_counts"]["CN_RESIDENT_ID"] >= 1
    assert crm_record["subjects"], "identifiers must leave a pseudonym for later subject look-ups"

    # Audit drafts take one more hop (audit.pending.v1 → the chainer, which commits every second) than the acks.
    def audit_of_both_stages() -> list[dict[str, Any]]:
        events = values(bootstrap, "audit.events.v1", tenant=tenant)
        return events if {e["event_type"] for e in events} >= {"record.deidentified", "record.indexed"} else []

    audit = wait_for(audit_of_both_stages, timeout_s=60)
    assert all(e["versions"].get("rule_pack") for e in audit)
    everything = "\n".join(
        "\n".join(raw_values(bootstrap, t))
        for t in ("records.deidentified.v1", "records.indexed.v1", "audit.events.v1", "ingest.dlq.v1")
    )
    for secret in (PHONE, ID_NUMBER, EMAIL, "10.1.2.3"):
        assert secret not in everything

    query = {"query": "退货", "tenant": tenant, "k": 5}
    hits = api(sluice_up["api_url"], "/search", query, token=sluice_up["api_token"])["hits"]
    assert hits and all(h["lineage"]["tenant"] == tenant if "tenant" in h["lineage"] else True for h in hits)
    assert {h["record_id"] for h in hits} <= {r["record_id"] for r in stored["records"]}


def test_search_never_returns_another_tenants_records(sluice_up: dict[str, Any], bootstrap: str, tenant: str) -> None:
    other = f"{tenant}x"
    produce(
        bootstrap,
        [
            crm("mine", tenant, "shared words about invoices"),
            crm("theirs", other, "shared words about invoices"),
        ],
    )
    wait_for(lambda: records_of(sluice_up, tenant)["total"] == 1 and records_of(sluice_up, other)["total"] == 1)
    mine = {r["record_id"] for r in records_of(sluice_up, tenant)["records"]}
    query = {"query": "shared words about invoices", "tenant": tenant, "k": 50}
    hits = api(sluice_up["api_url"], "/search", query, token=sluice_up["api_token"])
    assert {h["record_id"] for h in hits["hits"]} == mine
    query = {"query": "x", "tenant": f'{tenant}" or tenant != "', "k": 5}
    hostile = api(sluice_up["api_url"], "/search", query, token=sluice_up["api_token"])
    assert hostile["status"] == 400


def test_broken_events_are_dead_lettered_with_reasons_and_the_worker_carries_on(
    sluice_up: dict[str, Any], bootstrap: str, tenant: str
) -> None:
    broken = {
        f"{tenant}-json".encode(): b'{"event_id": "x", "tenant": ',
        f"{tenant}-utf8".encode(): "手机".encode("gbk") + PHONE.encode(),
        f"{tenant}-schema".encode(): event("s", tenant, {"doc_type": "order"}),
        # Above SLUICE_MAX_MESSAGE_BYTES (1 MiB), below the topic's max.message.bytes: it arrives, to be dead-lettered.
        f"{tenant}-huge".encode(): event("h", tenant, {"doc_type": "order", "doc_no": "1", "remarks": "x" * 1_100_000}),
        f"{tenant}-array".encode(): b"[1,2]",
    }
    produce_all(
        bootstrap,
        [("erp.events.v1", key, value) for key, value in broken.items()],
        options={"message.max.bytes": str(TOPIC_MAX_MESSAGE_BYTES)},
    )
    produce(bootstrap, [crm("after-the-storm", tenant, "worker still alive")])
    wanted = {key_digest(k): k.decode().rsplit("-", 1)[1] for k in broken}

    def letters() -> dict[str, dict[str, Any]]:
        found = {d["key_sha256"]: d for d in values(bootstrap, "ingest.dlq.v1") if d.get("key_sha256") in wanted}
        return found if len(found) == len(wanted) else {}

    found = wait_for(letters, timeout_s=90)
    kinds = {wanted[h]: d["error_type"] for h, d in found.items()}
    assert kinds == {
        "json": "MalformedJsonError",
        "utf8": "InvalidEncodingError",
        "schema": "SchemaViolationError",
        "huge": "OversizedPayloadError",
        "array": "SchemaViolationError",
    }
    for letter in found.values():
        assert letter["source_topic"] == "erp.events.v1" and letter["offset"] >= 0 and letter["stage"] == "decode"
        assert letter["error_message"] and PHONE not in json.dumps(letter)
    wait_for(lambda: records_of(sluice_up, tenant)["total"] == 1)
    assert runtime.status(load_settings_from_env())["healthy"]


def load_settings_from_env() -> Settings:
    from agents.core.settings import load_settings

    return load_settings()


def test_tombstone_removes_the_records_vectors(sluice_up: dict[str, Any], bootstrap: str, tenant: str) -> None:
    produce(bootstrap, [crm("keep", tenant, "a record that stays"), crm("drop", tenant, "a record to forget")])
    wait_for(lambda: records_of(sluice_up, tenant)["total"] == 2)
    produce(bootstrap, [("crm.events.v1", b"drop", event("drop", tenant, None))])
    remaining = wait_for(lambda: (r := records_of(sluice_up, tenant))["total"] == 1 and r)
    assert remaining["chunks"] == 1
    assert "stays" in remaining["records"][0]["text"]
    acks = wait_for(
        lambda: [a for a in values(bootstrap, "records.indexed.v1", tenant=tenant) if a["action"] == "deleted"]
    )
    assert acks[0]["lineage"]["event_id"] == "drop"


def worker_pids(settings: Settings) -> set[int]:
    """The worker processes themselves, not their keep-alive supervisors."""
    supervisors = [p["pid"] for p in runtime.status(settings)["processes"] if p["role"] != "broker"]
    return {pid for pid in map(worker_child, supervisors) if pid is not None}


def record_after_publish(bootstrap: str, tenant: str, event_id: str, note: str) -> dict[str, Any]:
    produce(bootstrap, [crm(event_id, tenant, note)])
    return wait_for(  # type: ignore[no-any-return]
        lambda: next(
            (
                r
                for r in values(bootstrap, "records.deidentified.v1", tenant=tenant)
                if r["lineage"]["event_id"] == event_id
            ),
            None,
        )
    )


def test_rule_pack_update_on_rules_topic_applies_without_restart(
    sluice_up: dict[str, Any], bootstrap: str, tenant: str, settings: Settings
) -> None:
    from models.cleaning import RuleEngine, RulePack, load_bundled_packs
    from schemas.records import RulePackMessage

    pids_before = worker_pids(settings)
    medical = next(p for p in load_bundled_packs() if p.name == "medical")
    mapping = medical.to_mapping()
    mapping["version"] = f"{medical.version}-{tenant}"
    mapping["rules"] = [
        *mapping["rules"],
        {"id": f"test.{tenant}", "kind": "regex", "pattern": "ZORBLAX", "replacement": "替换成功"},
    ]
    pack = RulePack.from_mapping(mapping)
    expected_version = RuleEngine(load_bundled_packs()).with_pack(pack).version
    produce(
        bootstrap,
        [("rules.v1", pack.name.encode(), RulePackMessage(name=pack.name, pack=mapping).model_dump_json().encode())],
    )

    # The watcher applies the pack asynchronously: send records until one carries the new version.
    attempt = 0

    def updated() -> dict[str, Any] | None:
        nonlocal attempt
        attempt += 1
        record = record_after_publish(bootstrap, tenant, f"rules-{attempt}", "the ZORBLAX was delivered")
        return record if record["rule_pack_version"] == expected_version else None

    record = wait_for(updated, timeout_s=90, interval_s=0.5)
    assert "替换成功" in record["text"] and "ZORBLAX" not in record["text"]
    assert worker_pids(settings) == pids_before, "the update must not need a restart"

    # A broken pack is dead-lettered and the running rules stay as they were.
    bad = RulePackMessage(
        name="medical", pack={"name": "medical", "version": "9.9.9", "rules": [{"id": "r", "kind": "??"}]}
    )
    produce(bootstrap, [("rules.v1", b"medical", bad.model_dump_json().encode())])
    bad_offset = end_offsets(bootstrap, "rules.v1")[0] - 1
    wait_for(  # this pack's dead letter, not any rules.v1 letter another test caused
        lambda: [
            d
            for d in values(bootstrap, "ingest.dlq.v1")
            if (d["source_topic"], d["offset"]) == ("rules.v1", bad_offset)
        ]
    )
    after_bad = record_after_publish(bootstrap, tenant, "after-bad-pack", "ZORBLAX again")
    assert after_bad["rule_pack_version"] == expected_version and "替换成功" in after_bad["text"]

    # Put the bundled pack back for the other tests.
    restore = RulePackMessage(name="medical", pack=medical.to_mapping())
    produce(bootstrap, [("rules.v1", b"medical", restore.model_dump_json().encode())])
    bundled = RuleEngine(load_bundled_packs()).version
    wait_for(
        lambda: (
            record_after_publish(bootstrap, tenant, f"restore-{time.monotonic_ns()}", "x")["rule_pack_version"]
            == bundled
        )
    )


def test_worker_killed_mid_stream_loses_nothing_and_duplicates_nothing(
    sluice_up: dict[str, Any], bootstrap: str, tenant: str, settings: Settings
) -> None:
    total = 120
    produce(
        bootstrap,
        [crm(f"k-{i}", tenant, f"note number {i} " + "long text " * (i % 7) * 20) for i in range(total)],
    )
    wait_for(lambda: records_of(sluice_up, tenant)["total"] >= 10, interval_s=0.2)
    killed = worker_pids(settings)
    assert len(killed) >= 2  # the deidentify and index workers
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not any(pid_alive(pid) for pid in killed), timeout_s=20)
    # Nobody restarts them by hand: each keep-alive supervisor starts its worker again.
    wait_for(lambda: len(pids := worker_pids(settings)) == len(killed) and not pids & killed, timeout_s=30)
    wait_for(lambda: runtime.status(settings)["healthy"], timeout_s=120)
    stored = wait_for(lambda: (r := records_of(sluice_up, tenant))["total"] == total and r, timeout_s=180)
    # Acknowledgements become visible when their transaction commits, a moment after the store write.
    acks = wait_for(
        lambda: len(a := values(bootstrap, "records.indexed.v1", tenant=tenant)) >= total and a, timeout_s=60
    )
    expected_chunks = {a["record_id"]: a["chunks"] for a in acks}
    assert len(expected_chunks) == total
    assert len(acks) == total, "exactly-once: a record was acknowledged twice"
    assert stored["chunks"] == sum(expected_chunks.values()), "duplicate or missing chunks in the index"
