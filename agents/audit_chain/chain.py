"""The audit hash chain: canonical JSON, event hashes, per-partition sealing and each partition's Merkle tree.

Every event on audit.events.v1 carries `seq` (0, 1, 2, … per partition), `prev_hash` (the `hash` of the event
before it in that partition, GENESIS for the first) and `hash`: SHA-256 over the canonical JSON encoding of the
event without its `hash` field. The events of a partition are also the leaves of an RFC 6962 Merkle tree (leaf i
= the event with seq i), whose root the chainer signs in its checkpoints (agents/audit_chain/checkpoints.py).

The chainer also puts a `seal` on every event it writes: an HMAC under a key derived from its signing key, over the
event without `hash` (so the hash covers the seal too). Nobody else can make one and verifiers ignore it; it is how
a restarted chainer tells the events it wrote from events someone else appended after its last checkpoint, which it
must never sign over (agents/audit_chain/resume.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from agents.audit_chain.merkle import MerkleFrontier, event_leaf

GENESIS = "0" * 64
CHECKPOINT_EVENT = "audit.checkpoint"
TAIL_REJECTED_EVENT = "audit.tail_rejected"
CHAIN_FIELDS = ("seq", "prev_hash", "hash", "seal")
# Versioned: another label would be another key, and seals made under the old one would stop matching.
SEAL_KEY_LABEL = b"sluice/audit-seal/v1"


def canonical_json(value: Any) -> bytes:
    """The one encoding hashes are computed over: sorted keys, no whitespace, UTF-8, no NaN."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def event_hash(event: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of an event's canonical JSON, its own `hash` field left out."""
    return hashlib.sha256(canonical_json({k: v for k, v in event.items() if k != "hash"})).hexdigest()


@dataclass(frozen=True)
class Sealer:
    """What puts the chainer's seal on an event: a key id and the seal key derived from that id's signing key."""

    key_id: str
    key: bytes

    @classmethod
    def of(cls, key_id: str, private: Ed25519PrivateKey) -> Sealer:
        seed = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return cls(key_id, hmac.new(seed, SEAL_KEY_LABEL, hashlib.sha256).digest())

    def mac(self, event: Mapping[str, Any]) -> str:
        body = {k: v for k, v in event.items() if k not in ("hash", "seal")}
        return hmac.new(self.key, canonical_json(body), hashlib.sha256).hexdigest()


def seal_status(event: Mapping[str, Any], sealers: Mapping[str, Sealer]) -> str:
    """`ours` (a valid seal under a key we hold), `unsealed`, `unknown_key` (a seal under an id we hold no key of),
    or `forged` (a seal that does not verify)."""
    seal = event.get("seal")
    if seal is None:
        return "unsealed"
    if not isinstance(seal, dict) or not isinstance(seal.get("key_id"), str) or not isinstance(seal.get("mac"), str):
        return "forged"
    sealer = sealers.get(seal["key_id"])
    if sealer is None:
        return "unknown_key"
    return "ours" if hmac.compare_digest(seal["mac"], sealer.mac(event)) else "forged"


@dataclass
class ChainHead:
    """Where one partition's chain stands: the next seq, the last hash, its Merkle tree, the last checkpoint.

    `low_watermark` is the partition's first offset as the chainer found it when it (re)loaded the chain, and
    `rejected` the seq ranges it refused as not its own (agents/audit_chain/resume.py); both go into every signed
    tree head. `rejection` is a refusal found on loading that is still to be written into the chain.
    """

    next_seq: int = 0
    last_hash: str = GENESIS
    checkpointed_seq: int = -1
    checkpointed_at: float = 0.0
    tree: MerkleFrontier = field(default_factory=MerkleFrontier)
    low_watermark: int = 0
    rejected: list[tuple[int, int]] = field(default_factory=list)
    rejection: dict[str, Any] | None = None

    @property
    def since_checkpoint(self) -> int:
        return self.next_seq - 1 - self.checkpointed_seq

    def advance(self, event: Mapping[str, Any]) -> None:
        """Takes `event` (the next of this chain, already sealed) into the head and its tree."""
        self.next_seq = int(event["seq"]) + 1
        self.last_hash = str(event["hash"])
        self.tree.append(event_leaf(self.last_hash))


def seal(draft: Mapping[str, Any], head: ChainHead, sealer: Sealer | None = None) -> dict[str, Any]:
    """The draft as the next event of the chain (seq, prev_hash, seal, hash added); advances `head`.

    Without a sealer the event carries no seal (tests that build chains, and the events of earlier versions).
    """
    event = {k: v for k, v in draft.items() if k not in CHAIN_FIELDS}
    event["seq"] = head.next_seq
    event["prev_hash"] = head.last_hash
    if sealer is not None:
        event["seal"] = {"key_id": sealer.key_id, "mac": sealer.mac(event)}
    event["hash"] = event_hash(event)
    head.advance(event)
    return event
