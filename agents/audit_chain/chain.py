"""The audit hash chain: canonical JSON, per-partition sealing and HMAC-authenticated checkpoints.

Every event on audit.events.v1 carries `seq` (0, 1, 2, … per partition), `prev_hash` (the `hash` of the event
before it in that partition, GENESIS for the first) and `hash`: SHA-256 over the canonical JSON encoding of the
event without its `hash` field. A checkpoint event (event_type `audit.checkpoint`) records the chain head and
count, authenticated with HMAC-SHA256 under a key id from settings, so a rewritten chain is detected even when
every hash in it was recomputed. The chainer (agents/audit/chainer.py) is the only writer; the verifier and the
replay command only read.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64
CHECKPOINT_EVENT = "audit.checkpoint"
CHAIN_FIELDS = ("seq", "prev_hash", "hash")


def canonical_json(value: Any) -> bytes:
    """The one encoding hashes are computed over: sorted keys, no whitespace, UTF-8, no NaN."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def event_hash(event: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of an event's canonical JSON, its own `hash` field left out."""
    return hashlib.sha256(canonical_json({k: v for k, v in event.items() if k != "hash"})).hexdigest()


@dataclass
class ChainHead:
    """Where one partition's chain stands: the next seq, the last hash and what the last checkpoint covered."""

    next_seq: int = 0
    last_hash: str = GENESIS
    checkpointed_seq: int = -1
    checkpointed_at: float = 0.0

    @classmethod
    def after(cls, event: Mapping[str, Any], *, now: float) -> ChainHead:
        """The head once `event` (the last committed one of a partition) is in the chain."""
        seq = int(event["seq"])
        checkpointed = seq if event.get("event_type") == CHECKPOINT_EVENT else -1
        return cls(next_seq=seq + 1, last_hash=str(event["hash"]), checkpointed_seq=checkpointed, checkpointed_at=now)

    @property
    def since_checkpoint(self) -> int:
        return self.next_seq - 1 - self.checkpointed_seq


def seal(draft: Mapping[str, Any], head: ChainHead) -> dict[str, Any]:
    """The draft as the next event of the chain (seq, prev_hash, hash added); advances `head`."""
    event = {k: v for k, v in draft.items() if k not in CHAIN_FIELDS}
    event["seq"] = head.next_seq
    event["prev_hash"] = head.last_hash
    event["hash"] = event_hash(event)
    head.next_seq += 1
    head.last_hash = event["hash"]
    return event


def checkpoint_body(partition: int, head_seq: int, head_hash: str) -> dict[str, Any]:
    """What a checkpoint's MAC covers: the partition, the seq and hash of its head, and the event count."""
    return {"partition": partition, "head_seq": head_seq, "head_hash": head_hash, "count": head_seq + 1}


def checkpoint_mac(key: bytes, body: Mapping[str, Any]) -> str:
    return hmac.new(key, canonical_json(dict(body)), hashlib.sha256).hexdigest()


def checkpoint_draft(partition: int, head: ChainHead, key_id: str, key: bytes) -> dict[str, Any]:
    """An unsealed checkpoint event for the current head of `partition` (seal it next, with the same head)."""
    body = checkpoint_body(partition, head.next_seq - 1, head.last_hash)
    return {
        "event_type": CHECKPOINT_EVENT,
        "stage": "audit",
        "subject_id": f"audit-partition-{partition}",
        "tenant": None,
        "source_topic": None,
        "partition": None,
        "offset": None,
        "entity_counts": {},
        "versions": {},
        "timings_ms": {},
        "details": {**body, "key_id": key_id, "mac": checkpoint_mac(key, body)},
        "emitted_at": datetime.now(UTC).isoformat(),
    }


def checkpoint_problem(details: Mapping[str, Any], partition: int, keys: Mapping[str, bytes]) -> str | None:
    """None when a checkpoint's MAC is valid under the key it names; otherwise why not."""
    key_id = details.get("key_id")
    if not isinstance(key_id, str) or key_id not in keys:
        return f"checkpoint signed with unknown key id {key_id!r} (configure it in SLUICE_AUDIT_HMAC_KEYS)"
    try:
        body = checkpoint_body(partition, int(details["head_seq"]), str(details["head_hash"]))
    except (KeyError, TypeError, ValueError):
        return "checkpoint lacks head_seq/head_hash"
    if details.get("count") != body["count"]:
        return "checkpoint count does not match its head seq"
    if not hmac.compare_digest(str(details.get("mac", "")), checkpoint_mac(keys[key_id], body)):
        return "checkpoint MAC is invalid (forged or altered checkpoint)"
    return None
