"""Builds sealed audit chains (and their Kafka records) with the real chain module, for verifier and replay tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agents.audit_chain.chain import CHECKPOINT_EVENT, ChainHead, Sealer, event_hash, seal
from agents.audit_chain.checkpoints import checkpoint_body, checkpoint_draft, checkpoint_mac
from agents.core.audit_keys import CheckpointKeys

TOPIC = "audit.events.v1"
# Fixed seeds: the same keys every run. "rogue" signs like the chainer would, but no verifier is given its key.
SIGNING = {
    "k1": Ed25519PrivateKey.from_private_bytes(bytes([1]) * 32),
    "k2": Ed25519PrivateKey.from_private_bytes(bytes([2]) * 32),
}
ROGUE = Ed25519PrivateKey.from_private_bytes(bytes([9]) * 32)
KEYS = CheckpointKeys({key_id: key.public_key() for key_id, key in SIGNING.items()}, source="tests")
HMAC_KEYS = {"old-1": b"legacy-hmac-key"}
SEALER = Sealer.of("k1", SIGNING["k1"])
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


def signed_checkpoint(
    partition: int, head: ChainHead, key_id: str, key: Ed25519PrivateKey, *, at: str, topic: str = TOPIC
) -> dict[str, Any]:
    cp = checkpoint_draft(topic, partition, head, key_id, key)
    cp["emitted_at"] = at
    return cp


def legacy_checkpoint(partition: int, head: ChainHead, key_id: str, key: bytes, *, at: str) -> dict[str, Any]:
    """A checkpoint as versions before signed tree heads wrote it (HMAC-SHA256 under a shared key)."""
    body = checkpoint_body(partition, head.next_seq - 1, head.last_hash)
    return {
        **draft(0, emitted_at=at),
        "event_id": f"checkpoint-{partition}-{head.next_seq}",
        "event_type": CHECKPOINT_EVENT,
        "stage": "audit",
        "subject_id": f"audit-partition-{partition}",
        "tenant": None,
        "details": {**body, "key_id": key_id, "mac": checkpoint_mac(key, body)},
    }


def chain(
    drafts: list[dict[str, Any]],
    *,
    partition: int = 0,
    checkpoints: dict[int, str] | None = None,
    keys: dict[str, Ed25519PrivateKey] | None = None,
    legacy: dict[int, str] | None = None,
    sealer: Sealer | None = None,
    head: ChainHead | None = None,
    topic: str = TOPIC,
) -> list[dict[str, Any]]:
    """Seals drafts in order; `checkpoints` {n: key_id} adds a signed checkpoint after the n-th draft (1-based),
    `legacy` {n: key_id} an HMAC one (HMAC_KEYS) as earlier versions did."""
    head = head if head is not None else ChainHead()
    keys = keys if keys is not None else {**SIGNING, "rogue": ROGUE}
    out: list[dict[str, Any]] = []
    for n, d in enumerate(drafts, start=1):
        out.append(seal(d, head, sealer))
        if checkpoints and n in checkpoints:
            key_id = checkpoints[n]
            cp = signed_checkpoint(partition, head, key_id, keys[key_id], at=d["emitted_at"], topic=topic)
            out.append(seal(cp, head, sealer))
        if legacy and n in legacy:
            key_id = legacy[n]
            out.append(seal(legacy_checkpoint(partition, head, key_id, HMAC_KEYS[key_id], at=d["emitted_at"]), head))
    return out


def simple_chain(n: int, **kwargs: Any) -> list[dict[str, Any]]:
    """n events; unless told otherwise, a checkpoint (k1) after the last, so that the chain is authenticated."""
    if "checkpoints" not in kwargs and "legacy" not in kwargs:
        kwargs["checkpoints"] = {n: "k1"}
    return chain([draft(i) for i in range(n)], **kwargs)


def rehash(event: dict[str, Any]) -> dict[str, Any]:
    """What a forger who knows the hash rule does after changing an event."""
    return {**event, "hash": event_hash(event)}


def records(events: list[dict[str, Any]], partition: int = 0) -> list[tuple[int, int, bytes | None]]:
    return [(partition, offset, json.dumps(e).encode()) for offset, e in enumerate(events)]
