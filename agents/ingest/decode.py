"""Bytes from a source topic → a validated upstream event, or a poison-record error that says why."""

from __future__ import annotations

from agents.core.decode import parse_json_bytes, validate
from agents.core.messages import SourcePosition
from schemas.records import SourceEvent
from topics.specs import TopicSpec


def decode_event(topic: TopicSpec, position: SourcePosition, *, max_bytes: int) -> SourceEvent:
    """Validate one upstream message against its topic's envelope and payload model (from the topic spec)."""
    assert topic.payload is not None, f"{topic.name} declares no payload model"
    data = parse_json_bytes(position.value, max_bytes=max_bytes, stage="decode")
    event: SourceEvent = validate(topic.payload, data, stage="decode")
    return event
