"""Builds sealed audit chains (and their Kafka records) with the real chain module, for verifier and replay tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from agents.audit_chain.chain import ChainHead, checkpoint_draft, event_hash, seal

KEYS = {"k1": b"test-key-one", "k2": b"test-key-two"}
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def draft(i: int, **overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": f"e{i:04d}",
        "event_type": "record.deidentified",
        "stage": "deidentify",
        "subject_id": f"rec-{i}",
        "tenant": "acme",
        "source_topic": "erp.events.v1",
        "partition": 0,
        "offset": i,
        "entity_counts": {"PERSON": 1},
        "versions": {"rule_pack": "p1", "deid": "d1"},
        "timings_ms": {"deid": 1.5},
        "details": {"kind": "order", "subjects": [f"ps-{i}"]},
        "emitted_at": (T0 + timedelta(seconds=i)).isoformat(),
    }
    event.update(overrides)
    return event


def chain(
    drafts: list[dict[str, Any]],
    *,
    partition: int = 0,
    checkpoints: dict[int, str] | None = None,
    keys: dict[str, bytes] | None = None,
) -> list[dict[str, Any]]:
    """Seals drafts in order; `checkpoints` {n: key_id} adds a checkpoint after the n-th draft (1-based count)."""
    head = ChainHead()
    keys = keys if keys is not None else KEYS
    out: list[dict[str, Any]] = []
    for n, d in enumerate(drafts, start=1):
        out.append(seal(d, head))
        if checkpoints and n in checkpoints:
            key_id = checkpoints[n]
            cp = checkpoint_draft(partition, head, key_id, keys[key_id])
            cp["emitted_at"] = d["emitted_at"]
            out.append(seal(cp, head))
    return out


def simple_chain(n: int, **kwargs: Any) -> list[dict[str, Any]]:
    return chain([draft(i) for i in range(n)], **kwargs)


def rehash(event: dict[str, Any]) -> dict[str, Any]:
    """What a forger who knows the hash rule does after changing an event."""
    return {**event, "hash": event_hash(event)}


def records(events: list[dict[str, Any]], partition: int = 0) -> list[tuple[int, int, bytes | None]]:
    return [(partition, offset, json.dumps(e).encode()) for offset, e in enumerate(events)]
