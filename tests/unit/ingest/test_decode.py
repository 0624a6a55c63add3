"""Decoding upstream bytes: every kind of bad input becomes a named poison-record error without its content."""

from __future__ import annotations

import json

import pytest

from agents.core.messages import SourcePosition
from agents.ingest.decode import decode_event
from schemas.errors import InvalidEncodingError, MalformedJsonError, OversizedPayloadError, SchemaViolationError
from schemas.records import CrmEvent, ErpEvent, LogEvent
from topics.specs import SOURCE_TOPICS, TopicSpec

ENVELOPE = {"event_id": "e-1", "tenant": "acme", "occurred_at": "2026-11-01T08:00:00+08:00"}


def source_by_name(source: str) -> TopicSpec:
    return next(t for t in SOURCE_TOPICS if t.source == source)


def position(value: bytes | None, topic: str = "erp.events.v1") -> SourcePosition:
    return SourcePosition(topic, 0, 42, b"e-1", value)


def encode(payload: object) -> bytes:
    return json.dumps({**ENVELOPE, "payload": payload}, ensure_ascii=False).encode()


@pytest.mark.parametrize(
    ("source", "payload", "model"),
    [
        ("erp", {"doc_type": "order", "doc_no": "SO-1", "remarks": "free text"}, ErpEvent),
        ("crm", {"customer_id": "C-1", "channel": "phone", "notes": "free text"}, CrmEvent),
        ("logs", {"level": "INFO", "service": "billing", "message": "free text"}, LogEvent),
    ],
)
def test_minimal_payloads_of_each_source_are_accepted(source: str, payload: dict[str, str], model: type) -> None:
    event = decode_event(source_by_name(source), position(encode(payload)), max_bytes=10_000)
    assert isinstance(event, model)
    assert event.tenant == "acme"
    assert event.payload is not None


def test_null_payload_is_a_tombstone() -> None:
    event = decode_event(source_by_name("erp"), position(encode(None)), max_bytes=10_000)
    assert event.payload is None


def test_bytes_that_are_not_utf8_raise_invalid_encoding() -> None:
    with pytest.raises(InvalidEncodingError, match="not valid UTF-8"):
        decode_event(source_by_name("erp"), position("客户电话".encode("gbk")), max_bytes=10_000)


def test_truncated_json_raises_malformed_json_with_position() -> None:
    with pytest.raises(MalformedJsonError, match="line 1 column"):
        decode_event(source_by_name("erp"), position(b'{"event_id": "x", '), max_bytes=10_000)


def test_deeply_nested_json_is_malformed_not_a_crash() -> None:
    with pytest.raises(MalformedJsonError, match="nested too deeply"):
        decode_event(source_by_name("erp"), position(b"[" * 100_000 + b"]" * 100_000), max_bytes=10**7)


def test_integer_above_the_conversion_limit_is_malformed_not_a_crash() -> None:
    # Python refuses to convert integer literals over 4300 digits with a plain ValueError, not a JSONDecodeError.
    with pytest.raises(MalformedJsonError, match="too many digits"):
        decode_event(source_by_name("erp"), position(b'{"event_id": ' + b"9" * 5_000 + b"}"), max_bytes=10**7)


def test_oversized_message_is_rejected_before_parsing() -> None:
    with pytest.raises(OversizedPayloadError, match="above the 100-byte limit"):
        decode_event(source_by_name("erp"), position(b"x" * 101), max_bytes=100)


def test_message_without_value_says_how_to_send_a_tombstone() -> None:
    with pytest.raises(SchemaViolationError, match='"payload": null'):
        decode_event(source_by_name("erp"), position(None), max_bytes=100)


def test_schema_violation_names_the_field_but_never_quotes_the_input() -> None:
    secret = "13812345678"
    value = encode({"doc_type": secret, "doc_no": "SO-1"})
    with pytest.raises(SchemaViolationError) as caught:
        decode_event(source_by_name("erp"), position(value), max_bytes=10_000)
    assert "payload.ErpPayload.doc_type" in str(caught.value) or "doc_type" in str(caught.value)
    assert secret not in str(caught.value)


def test_unknown_fields_are_schema_violations_that_say_where_but_not_the_key() -> None:
    # A key is whatever the sender wrote: it may be a name or a phone number, so it is never echoed.
    value = encode({"doc_type": "order", "doc_no": "SO-1", "张三 13812345678": 1})
    with pytest.raises(SchemaViolationError) as caught:
        decode_event(source_by_name("erp"), position(value), max_bytes=10_000)
    assert "payload.(unknown field): Extra inputs are not permitted" in str(caught.value)
    assert "张三" not in str(caught.value) and "13812345678" not in str(caught.value)


def test_known_field_paths_are_kept_and_unknown_keys_hidden_at_any_depth() -> None:
    lines = [{"sku": 7, "nickname of 李四": "x"}]
    value = encode({"doc_type": "order", "doc_no": "SO-1", "lines": lines})
    with pytest.raises(SchemaViolationError) as caught:
        decode_event(source_by_name("erp"), position(value), max_bytes=10_000)
    assert "payload.lines.0.sku: Input should be a valid string" in str(caught.value)
    assert "payload.lines.0.(unknown field)" in str(caught.value) and "李四" not in str(caught.value)


def test_keys_of_a_mapping_field_are_not_echoed() -> None:
    from agents.core.decode import validate
    from schemas.records import DeidentifiedRecord

    with pytest.raises(SchemaViolationError) as caught:
        validate(DeidentifiedRecord, {"entity_counts": {"王五 13812345678": "many"}}, stage="index")
    assert "entity_counts.(key): Input should be a valid integer" in str(caught.value)
    assert "王五" not in str(caught.value) and "record_id: Field required" in str(caught.value)


def test_non_object_json_is_a_schema_violation() -> None:
    with pytest.raises(SchemaViolationError, match="expected a JSON object, got list"):
        decode_event(source_by_name("logs"), position(b"[1, 2]"), max_bytes=10_000)


def test_tenant_with_filter_syntax_is_rejected() -> None:
    value = json.dumps({**ENVELOPE, "tenant": 'a" or tenant != "', "payload": None}).encode()
    with pytest.raises(SchemaViolationError, match="tenant"):
        decode_event(source_by_name("erp"), position(value), max_bytes=10_000)


def test_time_without_offset_is_rejected() -> None:
    value = json.dumps({**ENVELOPE, "occurred_at": "2026-11-01T08:00:00", "payload": None}).encode()
    with pytest.raises(SchemaViolationError, match="occurred_at"):
        decode_event(source_by_name("erp"), position(value), max_bytes=10_000)
