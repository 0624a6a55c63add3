"""The inference request contract: three required fields, sensible defaults, strict about the rest."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from schemas.inference import InferenceRequest


def test_only_request_id_tenant_and_prompt_are_required() -> None:
    request = InferenceRequest.model_validate({"request_id": "r1", "tenant": "acme", "prompt": "你好"})
    assert (request.task, request.max_tokens, request.temperature, request.priority) == ("chat", 128, 0.0, 0)
    assert request.deadline_ms == 30_000 and request.reply_to is None
    assert request.session == "r1"  # no session id: a one-turn session of its own


@pytest.mark.parametrize("missing", ["request_id", "tenant", "prompt"])
def test_each_required_field_is_required(missing: str) -> None:
    body = {"request_id": "r1", "tenant": "acme", "prompt": "hi"}
    del body[missing]
    with pytest.raises(ValidationError, match=missing):
        InferenceRequest.model_validate(body)


@pytest.mark.parametrize(
    "override",
    [
        {"max_tokens": 0},
        {"temperature": -1},
        {"task": "translate"},
        {"reply_to": "not a topic!"},
        {"tenant": 'a" or tenant != "'},
        {"unknown": 1},
    ],
)
def test_out_of_range_or_unknown_values_are_rejected(override: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        InferenceRequest.model_validate({"request_id": "r1", "tenant": "acme", "prompt": "hi", **override})


def test_reply_to_accepts_a_versioned_topic_name() -> None:
    request = InferenceRequest.model_validate(
        {"request_id": "r1", "tenant": "acme", "prompt": "hi", "reply_to": "crm.answers.v2", "session_id": "s9"}
    )
    assert request.reply_to == "crm.answers.v2" and request.session == "s9"
