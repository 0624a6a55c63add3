"""The pure parts of re-execution: model references, which events are re-run, the comparison and its summary."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from agents.core.digests import keyed_digest
from agents.tools.audit.reexecute import _compare, answered_requests, parse_model_ref, summary
from agents.tools.audit.replay import SelectedEvent
from schemas.errors import SluiceError
from schemas.inference import InferenceResponse


def answered(request_id: str, status: str = "ok", sha: str | None = "a" * 64) -> SelectedEvent:
    details: dict[str, Any] = {"status": status}
    if sha is not None:
        details["text_sha256"] = sha
    event = {
        "event_type": "request.answered",
        "subject_id": request_id,
        "tenant": "acme",
        "source_topic": "inference.requests.v1",
        "partition": 0,
        "offset": 3,
        "versions": {"model": "m@v1"},
        "details": details,
    }
    return SelectedEvent(0, 1, event)


def test_model_reference_needs_name_and_version() -> None:
    assert parse_model_ref("smollm2@int8-1") == ("smollm2", "int8-1")
    for bad in ("smollm2", "@v1", "smollm2@", ""):
        with pytest.raises(SluiceError, match="MODEL@VERSION"):
            parse_model_ref(bad)


def test_only_requests_a_model_answered_are_rerun() -> None:
    other = SelectedEvent(0, 2, {"event_type": "record.indexed", "subject_id": "rec_1"})
    rejected = answered("r2", status="rejected")
    assert [e["subject_id"] for e in answered_requests([answered("r1"), other, rejected])] == ["r1"]


DIGEST_KEY = b"digest-key-for-tests-0123456789ab"


def digest(text: str) -> str:
    return keyed_digest(DIGEST_KEY, text)


def test_comparison_is_by_keyed_answer_digest_and_unknown_without_a_recorded_one() -> None:
    response = InferenceResponse.model_validate(
        {"request_id": "r1", "tenant": "acme", "session_id": "s", "status": "ok", "text": "hello", "responded_at": 0}
    )
    same = _compare(answered("r1", sha=digest("hello")).event, "s", response, "m@v2", digest)
    differ = _compare(answered("r1", sha="b" * 64).event, "s", response, "m@v2", digest)
    unknown = _compare(answered("r1", sha=None).event, "s", response, "m@v2", digest)
    assert (same.same, differ.same, unknown.same) == (True, False, None)
    assert same.sha256 == digest("hello")
    assert "hello" not in str(same.to_json())  # only the digest travels
    assert summary([same, differ, unknown]) == {"reexecuted": 3, "same": 1, "differ": 1, "not_comparable": 1}


def test_events_recorded_before_digests_were_keyed_still_compare() -> None:
    response = InferenceResponse.model_validate(
        {"request_id": "r1", "tenant": "acme", "session_id": "s", "status": "ok", "text": "hello", "responded_at": 0}
    )
    bare = hashlib.sha256(b"hello").hexdigest()
    assert _compare(answered("r1", sha=bare).event, "s", response, "m@v2", digest).same is True
    other_key = _compare(answered("r1", sha=keyed_digest(b"x" * 32, "hello")).event, "s", response, "m@v2", digest)
    assert other_key.same is False  # a digest under another key is not the same answer
