"""Building upstream events and reading what Sluice wrote, with plain Kafka clients (no Sluice internals)."""

from __future__ import annotations

import json
from typing import Any

from agents.core.digests import keyed_digest
from agents.core.kafka_io import produce_all, read_topic
from agents.core.settings import load_settings
from agents.processes.supervise import worker_child

__all__ = ["event", "key_digest", "produce", "raw_values", "values", "worker_child"]


def key_digest(key: bytes) -> str:
    """A dead letter's `key_sha256` for a message key: keyed under the session's digest key (the test session
    exports its settings to the environment, so this reads the keys the workers use)."""
    return keyed_digest(load_settings().digest_secret(), key)


def event(event_id: str, tenant: str, payload: Any) -> bytes:
    return json.dumps(
        {
            "event_id": event_id,
            "tenant": tenant,
            "occurred_at": "2026-11-20T09:30:00+08:00",
            "payload": payload,
        },
        ensure_ascii=False,
    ).encode()


def produce(bootstrap: str, messages: list[tuple[str, bytes | None, bytes | None]]) -> None:
    produce_all(bootstrap, messages)


def values(bootstrap: str, topic: str, *, tenant: str | None = None) -> list[dict[str, Any]]:
    """Decoded JSON objects of a topic, optionally only those of one tenant.

    Anything else is skipped: tests/integration/test_bad_input.py puts bad input (broken JSON, 100,000-deep
    nesting) on every topic Sluice consumes, records.deidentified.v1 among them.
    """
    out = []
    for record in read_topic(bootstrap, topic):
        try:
            body = json.loads(record.value or b"null")
        except (ValueError, RecursionError):
            continue
        if isinstance(body, dict) and (tenant is None or body.get("tenant") == tenant):
            out.append(body)
    return out


def raw_values(bootstrap: str, topic: str) -> list[str]:
    return [(r.value or b"").decode("utf-8", "replace") for r in read_topic(bootstrap, topic)]
