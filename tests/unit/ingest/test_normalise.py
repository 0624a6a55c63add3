"""Normalisation: one unified record per source, deterministic ids, lineage, declared PII kept apart."""

from __future__ import annotations

import json

from agents.core.messages import SourcePosition
from agents.ingest.decode import decode_event
from agents.ingest.normalise import normalise, record_id_for
from topics.specs import source_topic


def unified(source: str, topic: str, payload: object, event_id: str = "e-7", offset: int = 3):  # type: ignore[no-untyped-def]
    value = json.dumps(
        {"event_id": event_id, "tenant": "acme", "occurred_at": "2026-11-01T00:00:00Z", "payload": payload},
        ensure_ascii=False,
    ).encode()
    position = SourcePosition(topic, 2, offset, event_id.encode(), value)
    return normalise(source, decode_event(source_topic(topic), position, max_bytes=100_000), position)


def test_record_id_is_deterministic_and_scoped_by_source_and_tenant() -> None:
    assert record_id_for("erp", "acme", "e-1") == record_id_for("erp", "acme", "e-1")
    assert record_id_for("erp", "acme", "e-1") != record_id_for("crm", "acme", "e-1")
    assert record_id_for("erp", "acme", "e-1") != record_id_for("erp", "globex", "e-1")


def test_replayed_event_at_another_offset_maps_to_the_same_record() -> None:
    payload = {"doc_type": "order", "doc_no": "SO-1", "remarks": "x"}
    first = unified("erp", "erp.events.v1", payload, offset=3)
    again = unified("erp", "erp.events.v1", payload, offset=99)
    assert first.record_id == again.record_id
    assert (first.lineage.offset, again.lineage.offset) == (3, 99)


def test_lineage_names_topic_partition_offset_event_and_tenant() -> None:
    record = unified("logs", "logs.events.v1", {"level": "INFO", "service": "billing", "message": "ok"})
    lineage = record.lineage
    assert (lineage.source, lineage.topic, lineage.partition, lineage.offset) == (
        "logs",
        "logs.events.v1",
        2,
        3,
    )
    assert (lineage.event_id, lineage.tenant) == ("e-7", "acme")
    assert record.kind == "logs.line"
    assert record.header == "[INFO] billing" and record.free_text == "ok"


def test_erp_free_text_holds_remarks_and_lines_but_declared_pii_is_kept_apart() -> None:
    record = unified(
        "erp",
        "erp.events.v1",
        {
            "doc_type": "invoice",
            "doc_no": "INV-9",
            "remarks": "加急",
            "customer_name": "张伟",
            "contact_phone": "13812345678",
            "lines": [{"sku": "SKU-1", "description": "阿莫西林", "quantity": 2}],
        },
    )
    assert record.kind == "erp.invoice"
    assert "INV-9" in record.header and "INV-9" not in record.free_text  # structured ids skip NER
    assert "加急" in record.free_text and "阿莫西林" in record.free_text
    assert "张伟" not in record.free_text and "13812345678" not in record.free_text
    assert {(d.entity_type, d.value) for d in record.declared_pii} == {
        ("PERSON", "张伟"),
        ("CN_MOBILE", "13812345678"),
    }


def test_crm_contact_fields_are_declared_pii_with_their_types() -> None:
    record = unified(
        "crm",
        "crm.events.v1",
        {
            "customer_id": "C-1",
            "channel": "phone",
            "notes": "回访",
            "contact": {"name": "王芳", "email": "wf@example.com", "id_number": "11010519491231002X"},
        },
    )
    types = {d.entity_type for d in record.declared_pii}
    assert types == {"PERSON", "EMAIL_ADDRESS", "CN_RESIDENT_ID"}
    assert "wf@example.com" not in record.free_text


def test_tombstone_is_a_deleted_record_with_no_text() -> None:
    record = unified("crm", "crm.events.v1", None)
    assert record.deleted and record.free_text == "" and record.declared_pii == ()
    assert record.record_id == record_id_for("crm", "acme", "e-7")


def test_a_shipping_address_is_declared_as_an_address_not_a_place() -> None:
    # ADDRESS keeps its replacing operator when place names (PLACE) are kept.
    record = unified(
        "erp",
        "erp.events.v1",
        {"doc_type": "order", "doc_no": "SO-1", "remarks": "x", "shipping_address": "北京市海淀区学院路12号3栋"},
    )
    assert {(d.entity_type, d.value) for d in record.declared_pii} == {("ADDRESS", "北京市海淀区学院路12号3栋")}
