"""Audit records as the verifier sees them: parsed events, their hash check, and their time."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeGuard

from agents.audit_chain.chain import CHECKPOINT_EVENT, event_hash


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant (`2026-11-20`, `2026-11-20T09:30:00+08:00`, `…Z`); without an offset it is UTC."""
    value = datetime.fromisoformat(text.strip())
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def event_time(event: Mapping[str, Any]) -> datetime | None:
    """An event's `emitted_at`, or None when it is missing or not an ISO 8601 instant."""
    value = event.get("emitted_at")
    if not isinstance(value, str):
        return None
    try:
        return parse_instant(value)
    except ValueError:
        return None


def parse_event(value: bytes | None) -> dict[str, Any] | str:
    """The event a record holds, or why it is not a chain event (the reason never quotes the bytes)."""
    if value is None:
        return "empty message (tombstone)"
    try:
        event = json.loads(value)
    except UnicodeDecodeError:
        return "not UTF-8"
    except ValueError:
        return "not JSON"
    if not isinstance(event, dict):
        return f"JSON {type(event).__name__}, not an object"
    seq = event.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        return "no integer seq ≥ 0"
    if not isinstance(event.get("prev_hash"), str) or not isinstance(event.get("hash"), str):
        return "no string prev_hash/hash"
    return event


@dataclass(frozen=True)
class Entry:
    """One record of a partition as the chain sees it; `event` is None when unparseable (`reason` says why)."""

    offset: int
    ordinal: int
    event: dict[str, Any] | None
    reason: str = ""
    hash_ok: bool = False

    @property
    def seq(self) -> int:
        assert self.event is not None
        return int(self.event["seq"])

    @property
    def prev(self) -> str:
        assert self.event is not None
        return str(self.event["prev_hash"])

    @property
    def hash(self) -> str:
        assert self.event is not None
        return str(self.event["hash"])

    @property
    def is_checkpoint(self) -> bool:
        return self.event is not None and self.event.get("event_type") == CHECKPOINT_EVENT


def entry_of(offset: int, ordinal: int, parsed: dict[str, Any] | str) -> Entry:
    if isinstance(parsed, str):
        return Entry(offset, ordinal, None, parsed)
    try:
        hash_ok = event_hash(parsed) == parsed["hash"]
    except ValueError:  # NaN or Infinity: the sealer's canonical JSON cannot encode them, so nothing sealed this
        return Entry(offset, ordinal, None, "holds NaN/Infinity, which canonical JSON cannot encode")
    return Entry(offset, ordinal, parsed, hash_ok=hash_ok)


def usable(entry: Entry | None) -> TypeGuard[Entry]:
    return entry is not None and entry.event is not None and entry.hash_ok
