"""The audit stream on the broker: kept forever, never compacted; foreign drafts are dead-lettered, not sealed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from confluent_kafka.admin import AdminClient, ConfigResource  # type: ignore[attr-defined]

from agents.core.kafka_io import produce_all
from agents.core.settings import Settings
from agents.tools.audit.commands import verify_topic
from schemas.records import AuditEvent
from tests.integration.conftest import wait_for
from tests.integration.helpers import key_digest, values


def test_audit_topic_keeps_everything_and_is_never_compacted(sluice_up: dict[str, Any], bootstrap: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    resource = ConfigResource(ConfigResource.Type.TOPIC, "audit.events.v1")
    config = admin.describe_configs([resource])[resource].result(timeout=30)
    assert config["cleanup.policy"].value == "delete"
    assert config["retention.ms"].value == "-1" and config["retention.bytes"].value == "-1"


def test_drafts_that_are_not_audit_events_are_dead_lettered_and_the_chain_stays_intact(
    sluice_up: dict[str, Any], settings: Settings, bootstrap: str, tenant: str
) -> None:
    forged = [
        b"not json",
        b'{"event_type": "record.indexed"}',
        b'{"event_id": "x", "event_type": "record.indexed", "stage": "index", "subject_id": "r", "tenant": null, '
        b'"emitted_at": "2026-11-29T00:00:00Z", "seq": 0, "prev_hash": "00", "hash": "forged"}',
    ]
    keys = [f"{tenant}-{i}".encode() for i in range(len(forged))]
    produce_all(bootstrap, [("audit.pending.v1", k, v) for k, v in zip(keys, forged, strict=True)])
    wanted = {key_digest(k) for k in keys}
    letters = wait_for(
        lambda: len(d := [x for x in values(bootstrap, "ingest.dlq.v1") if x.get("key_sha256") in wanted]) == 3 and d,
        timeout_s=60,
    )
    assert {letter["stage"] for letter in letters} == {"audit"}
    assert {letter["source_topic"] for letter in letters} == {"audit.pending.v1"}
    sealed = [e for e in values(bootstrap, "audit.events.v1") if e.get("subject_id") == "r"]
    assert sealed == [], "a draft carrying its own chain fields was sealed"
    report = verify_topic(settings, "audit.events.v1")
    assert report.intact, report.to_json()


def test_an_idle_chain_ends_in_a_checkpoint_within_the_interval(
    sluice_up: dict[str, Any], settings: Settings, bootstrap: str, tenant: str
) -> None:
    interval_s = settings.audit_checkpoint_interval_s
    assert interval_s <= 10, "the integration session sets a short checkpoint interval (conftest)"
    draft = AuditEvent(
        event_id=f"{tenant}-idle",
        event_type="record.indexed",
        stage="index",
        subject_id=f"{tenant}-r",
        tenant=tenant,
        emitted_at=datetime.now(UTC),
    )
    produce_all(bootstrap, [("audit.pending.v1", tenant.encode(), draft.model_dump_json().encode())])
    wait_for(lambda: [e for e in values(bootstrap, "audit.events.v1", tenant=tenant)], timeout_s=60)

    def every_tail_authenticated() -> bool:
        # Nothing else is audited now: only the chainer's own ticks can add the checkpoints that cover the tail.
        report = verify_topic(settings, "audit.events.v1")
        assert report.intact, report.to_json()
        return all(p.unauthenticated_tail == 0 for p in report.partitions)

    wait_for(every_tail_authenticated, timeout_s=4 * interval_s + 30, interval_s=2)
