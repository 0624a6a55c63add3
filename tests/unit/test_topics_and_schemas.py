"""Topic declarations follow the naming contract, and the shipped JSON Schemas match the records."""

from __future__ import annotations

import json
import re

import pytest
from pydantic import ValidationError

from agents.core.settings import Settings
from topics.export import SCHEMA_DIR, TOPIC_MODELS, render
from topics.specs import ALL_TOPICS, RULES, TOPIC_MAX_MESSAGE_BYTES, spec


def test_every_topic_is_named_domain_stage_version() -> None:
    for topic in ALL_TOPICS:
        assert re.fullmatch(r"[a-z]+\.[a-z]+\.v\d+|[a-z]+\.v\d+", topic.name), topic.name


def test_topics_are_declared_once() -> None:
    names = [t.name for t in ALL_TOPICS]
    assert len(names) == len(set(names))


def test_required_topics_of_the_ingest_flow_are_declared() -> None:
    required = {
        "erp.events.v1",
        "crm.events.v1",
        "logs.events.v1",
        "records.deidentified.v1",
        "records.indexed.v1",
        "ingest.dlq.v1",
        "audit.events.v1",
        "rules.v1",
    }
    assert required <= {t.name for t in ALL_TOPICS}


def test_control_topics_are_compacted_single_partition() -> None:
    for name in ("rules.v1", "models.registry.v1", "subjects.forgotten.v1"):
        topic = spec(name)
        assert topic.config()["cleanup.policy"] == "compact" and topic.partitions == 1


def test_control_topic_is_compacted_and_audit_is_kept_forever_uncompacted() -> None:
    assert RULES.config()["cleanup.policy"] == "compact"
    audit = spec("audit.events.v1")
    assert audit.config() == {
        "cleanup.policy": "delete",
        "retention.ms": "-1",
        "retention.bytes": "-1",
        "max.message.bytes": str(TOPIC_MAX_MESSAGE_BYTES),
    }


def test_every_topic_takes_messages_well_above_the_dead_letter_limit() -> None:
    # A message above SLUICE_MAX_MESSAGE_BYTES must still reach a worker to be dead-lettered with a reason.
    accepted = Settings.model_fields["max_message_bytes"].default
    assert all(int(s.config()["max.message.bytes"]) >= 4 * accepted for s in ALL_TOPICS)
    with pytest.raises(ValidationError, match="max_message_bytes"):
        Settings(max_message_bytes=TOPIC_MAX_MESSAGE_BYTES)


def test_audit_drafts_and_chain_are_co_partitioned() -> None:
    # The chainer seals partition p of audit.pending.v1 into partition p of audit.events.v1.
    assert spec("audit.pending.v1").partitions == spec("audit.events.v1").partitions


def test_only_upstream_events_and_client_requests_may_hold_raw_pii() -> None:
    assert {t.name for t in ALL_TOPICS if t.holds_raw_pii} == {
        "erp.events.v1",
        "crm.events.v1",
        "logs.events.v1",
        "inference.requests.v1",
    }


def test_every_declared_topic_has_a_schema() -> None:
    assert set(TOPIC_MODELS) == {t.name for t in ALL_TOPICS}


@pytest.mark.parametrize("topic", sorted(TOPIC_MODELS))
def test_shipped_json_schema_matches_the_record(topic: str) -> None:
    shipped = SCHEMA_DIR / f"{topic}.schema.json"
    assert shipped.exists(), f"run `sluice schemas export` to write {shipped.name}"
    assert json.loads(shipped.read_text()) == json.loads(render(topic)), "schema drift: run `sluice schemas export`"
