"""Malformed requests get an error response when they carry a request_id, and a dead letter otherwise."""

from __future__ import annotations

import json

from agents.core.messages import SourcePosition
from agents.inference.decode import InvalidRequest, Unanswerable, decode_request
from schemas.inference import InferenceRequest


def decode(value: bytes | None) -> object:
    return decode_request(SourcePosition("inference.requests.v1", 0, 3, b"s1", value), max_bytes=10_000)


def test_valid_request_decodes() -> None:
    decoded = decode(json.dumps({"request_id": "r1", "tenant": "acme", "prompt": "hi"}).encode())
    assert isinstance(decoded, InferenceRequest) and decoded.request_id == "r1"


def test_schema_violation_with_a_request_id_is_answered_with_the_reason() -> None:
    decoded = decode(json.dumps({"request_id": "r2", "tenant": "acme", "prompt": "", "max_tokens": 0}).encode())
    assert isinstance(decoded, InvalidRequest)
    assert (decoded.request_id, decoded.tenant) == ("r2", "acme")
    assert "prompt" in decoded.reason and "max_tokens" in decoded.reason


def test_invalid_tenant_is_not_echoed_back() -> None:
    decoded = decode(json.dumps({"request_id": "r3", "tenant": "bad tenant!", "prompt": "hi"}).encode())
    assert isinstance(decoded, InvalidRequest) and decoded.tenant is None


def test_no_request_id_means_dead_letter() -> None:
    for value in (b"{not json", "中文".encode("gbk"), b"[1,2]", json.dumps({"prompt": "hi"}).encode(), None):
        decoded = decode(value)
        assert isinstance(decoded, Unanswerable), value
        assert decoded.failure.position.topic == "inference.requests.v1" and decoded.failure.error_type


def test_ids_that_json_spells_as_lone_surrogates_are_never_echoed() -> None:
    # json.dumps writes a lone surrogate as the escape \ud800: valid JSON, but no response echoing it could be
    # encoded and sent.
    lone = "x" + chr(0xD800)
    request = {"request_id": "r4", "tenant": "acme", "session_id": "s1", "prompt": "hi", "max_tokens": 0}
    assert isinstance(decode(json.dumps({**request, "request_id": lone}).encode()), Unanswerable)
    bad_session = decode(json.dumps({**request, "session_id": lone}).encode())
    assert isinstance(bad_session, InvalidRequest)
    assert bad_session.request_id == "r4" and bad_session.session_id is None


def test_an_extra_key_is_answered_without_being_echoed() -> None:
    body = {"request_id": "r5", "tenant": "acme", "prompt": "hi", "customer 赵六 13812345678": True}
    decoded = decode(json.dumps(body).encode())
    assert isinstance(decoded, InvalidRequest)
    assert decoded.reason.endswith("(unknown field): Extra inputs are not permitted")
    assert "赵六" not in decoded.reason and "13812345678" not in decoded.reason
