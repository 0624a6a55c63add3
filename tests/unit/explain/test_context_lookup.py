"""Finding a request's kept context: the latest value under its key wins; gone or unreadable is a clear error."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from agents.core.messages import SourcePosition
from agents.inference.tenancy import request_key
from agents.tools.explain import ContextNotKeptError, ContextUnreadableError, latest_context
from schemas.errors import SluiceError
from schemas.inference import RequestContext
from topics.specs import INFERENCE_CONTEXT

TOPIC = INFERENCE_CONTEXT.name


def kept(request_id: str = "req-1", tenant: str = "acme", answer: str = "first") -> bytes:
    return (
        RequestContext(
            request_id=request_id,
            tenant=tenant,
            session_id=None,
            task="chat",
            model="tiny-llama@v1",
            messages=[],
            answer=answer,
            status="ok",
            kept_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
        .model_dump_json()
        .encode()
    )


def at(offset: int, key: bytes | None, value: bytes | None, partition: int = 0) -> SourcePosition:
    return SourcePosition(TOPIC, partition, offset, key, value)


def test_the_latest_value_under_the_key_wins() -> None:
    records = [
        at(0, request_key("acme", "req-1"), kept(answer="first")),
        at(1, request_key("acme", "req-2"), kept("req-2")),
        at(2, request_key("acme", "req-1"), kept(answer="second")),
        at(3, request_key("other", "req-1"), kept(tenant="other", answer="not ours")),
    ]
    assert latest_context(records, "acme", "req-1").answer == "second"


def test_keys_are_compared_as_json_not_bytes() -> None:
    spaced = json.dumps(["acme", "req-1"], separators=(" , ", " : ")).encode()
    assert latest_context([at(0, spaced, kept())], "acme", "req-1").request_id == "req-1"


def test_a_request_never_kept_names_the_topic_and_its_retention() -> None:
    with pytest.raises(ContextNotKeptError) as caught:
        latest_context([at(0, request_key("acme", "req-2"), kept("req-2"))], "acme", "req-1")
    message = str(caught.value)
    assert TOPIC in message and "req-1" in message and "retention (kept 7 days)" in message


def test_a_tombstone_deletes_the_context() -> None:
    records = [at(0, request_key("acme", "req-1"), kept()), at(1, request_key("acme", "req-1"), None)]
    with pytest.raises(ContextNotKeptError, match="deleted"):
        latest_context(records, "acme", "req-1")


def test_an_unreadable_latest_value_is_an_error_with_its_position() -> None:
    records = [at(0, request_key("acme", "req-1"), kept()), at(7, request_key("acme", "req-1"), b'{"answer": 1}')]
    with pytest.raises(ContextUnreadableError, match=rf"{TOPIC}\[0\]@7 is not a RequestContext"):
        latest_context(records, "acme", "req-1")


def test_a_value_for_another_request_under_the_key_is_refused() -> None:
    with pytest.raises(ContextUnreadableError, match="refused"):
        latest_context([at(0, request_key("acme", "req-1"), kept("req-9"))], "acme", "req-1")


@pytest.mark.parametrize(("tenant", "request_id"), [("", "r"), ("../x", "r"), ("acme", ""), ("acme", "r" * 129)])
def test_bad_ids_are_refused_before_reading(tenant: str, request_id: str) -> None:
    with pytest.raises(SluiceError):
        latest_context([], tenant, request_id)
