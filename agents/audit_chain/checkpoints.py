"""Checkpoints: signed tree heads (Ed25519 over a partition's Merkle root) and the HMAC checkpoints before them.

A checkpoint event (event_type `audit.checkpoint`) is sealed into the chain right after the head it covers. Its
`details` are a signed tree head (format `sluice-sth/1`):

    topic, partition            which chain
    tree_size, root_hash        the RFC 6962 Merkle root over the events seq 0 .. tree_size-1
    frontier                    the tree's perfect-subtree roots (folds to root_hash; lets the chainer resume and a
                                verifier of a window check later roots without the events before it)
    head_seq, head_hash         the last event covered (= tree_size - 1) and its hash
    low_watermark               the partition's first offset when the chainer loaded the chain
    rejected                    seq ranges the chainer refused as not its own (agents/audit_chain/resume.py)
    key_id, signed_at
    signature                   Ed25519 by key_id over "sluice/audit-signed-tree-head/v1\\n" + canonical JSON of
                                every other field

Only the private key signs; anyone with the public key verifies, and nobody who holds only the public key can
forge. Checkpoints written before this format carry `mac` (HMAC-SHA256 under a shared key): they are checked
when that key is at hand and otherwise reported as unverifiable, never as forged; nothing new is MACed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from agents.audit_chain.chain import CHECKPOINT_EVENT, ChainHead, canonical_json
from agents.audit_chain.merkle import MerkleError, MerkleFrontier
from agents.core.audit_keys import CheckpointKeys

STH_FORMAT = "sluice-sth/1"
SIGNATURE_CONTEXT = b"sluice/audit-signed-tree-head/v1\n"
_HEX64 = re.compile(r"[0-9a-f]{64}")  # used with fullmatch


class CheckpointError(ValueError):
    """A checkpoint that is not well formed (why, in words)."""


@dataclass(frozen=True)
class SignedHead:
    """A signed tree head, parsed (not yet trusted: verify_signed_head checks the signature)."""

    topic: str
    partition: int
    tree_size: int
    root_hash: str
    frontier: MerkleFrontier
    head_seq: int
    head_hash: str
    low_watermark: int
    rejected: tuple[tuple[int, int], ...]
    key_id: str
    signed_at: str

    def rejects(self, seq: int) -> bool:
        return any(first <= seq <= last for first, last in self.rejected)


def signed_head_body(topic: str, partition: int, head: ChainHead, key_id: str, signed_at: datetime) -> dict[str, Any]:
    """What a checkpoint for the current head of a partition signs (everything but the signature)."""
    return {
        "format": STH_FORMAT,
        "topic": topic,
        "partition": partition,
        "tree_size": head.next_seq,
        "root_hash": head.tree.root().hex(),
        "frontier": head.tree.to_hex(),
        "head_seq": head.next_seq - 1,
        "head_hash": head.last_hash,
        "low_watermark": head.low_watermark,
        "rejected": [[first, last] for first, last in head.rejected],
        "key_id": key_id,
        "signed_at": signed_at.isoformat(),
    }


def sign_head(body: Mapping[str, Any], private: Ed25519PrivateKey) -> dict[str, Any]:
    signature = private.sign(SIGNATURE_CONTEXT + canonical_json(dict(body)))
    return {**body, "signature": base64.b64encode(signature).decode()}


def checkpoint_draft(
    topic: str, partition: int, head: ChainHead, key_id: str, private: Ed25519PrivateKey
) -> dict[str, Any]:
    """An unsealed checkpoint event for the current head of `partition` (seal it next, with the same head)."""
    now = datetime.now(UTC)
    return {
        "event_id": f"checkpoint-{partition}-{head.next_seq}",
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
        "details": sign_head(signed_head_body(topic, partition, head, key_id, now), private),
        "emitted_at": now.isoformat(),
    }


def _int(details: Mapping[str, Any], name: str, *, low: int = 0) -> int:
    value = details.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise CheckpointError(f"{name} is not an integer ≥ {low}")
    return value


def _hex64(details: Mapping[str, Any], name: str) -> str:
    value = details.get(name)
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise CheckpointError(f"{name} is not 64 lowercase hex digits")
    return value


def parse_signed_head(details: Mapping[str, Any]) -> SignedHead:
    """The tree head in a checkpoint's details; raises CheckpointError when a field is missing or inconsistent."""
    if details.get("format") != STH_FORMAT:
        raise CheckpointError(f"format is not {STH_FORMAT}")
    topic, key_id, signed_at = details.get("topic"), details.get("key_id"), details.get("signed_at")
    if not isinstance(topic, str) or not isinstance(key_id, str) or not isinstance(signed_at, str):
        raise CheckpointError("topic, key_id or signed_at is not a string")
    tree_size = _int(details, "tree_size", low=1)
    head_seq = _int(details, "head_seq")
    if head_seq != tree_size - 1:
        raise CheckpointError(f"head_seq {head_seq} is not tree_size - 1 ({tree_size - 1})")
    root_hash = _hex64(details, "root_hash")
    nodes = details.get("frontier")
    if not isinstance(nodes, list) or not all(isinstance(n, str) for n in nodes):
        raise CheckpointError("frontier is not a list of hashes")
    try:
        frontier = MerkleFrontier.from_hex(tree_size, nodes)
    except MerkleError as exc:
        raise CheckpointError(f"frontier: {exc}") from None
    if frontier.root().hex() != root_hash:
        raise CheckpointError("the frontier does not fold to root_hash")
    rejected = details.get("rejected", [])
    ranges: list[tuple[int, int]] = []
    if not isinstance(rejected, list):
        raise CheckpointError("rejected is not a list of [first, last] seq ranges")
    for item in rejected:
        ok = isinstance(item, list) and len(item) == 2 and all(type(x) is int for x in item)
        if not ok or not 0 <= item[0] <= item[1] < tree_size:
            raise CheckpointError("rejected is not a list of [first, last] seq ranges inside the tree")
        ranges.append((item[0], item[1]))
    return SignedHead(
        topic=topic,
        partition=_int(details, "partition"),
        tree_size=tree_size,
        root_hash=root_hash,
        frontier=frontier,
        head_seq=head_seq,
        head_hash=_hex64(details, "head_hash"),
        low_watermark=_int(details, "low_watermark"),
        rejected=tuple(ranges),
        key_id=key_id,
        signed_at=signed_at,
    )


Status = Literal["valid", "unverifiable", "invalid"]


@dataclass(frozen=True)
class Verdict:
    """A checkpoint's standing: valid, unverifiable (a legacy HMAC whose key is not at hand) or invalid (why)."""

    status: Status
    reason: str = ""
    legacy: bool = False
    head: SignedHead | None = None

    @property
    def valid(self) -> bool:
        return self.status == "valid"


def verify_signed_head(
    details: Mapping[str, Any], public: Mapping[str, Ed25519PublicKey], partition: int | None = None
) -> Verdict:
    """A signed tree head's verdict: its signature under the public key of its key id, then its fields."""
    key_id = details.get("key_id")
    if not isinstance(key_id, str) or key_id not in public:
        known = ", ".join(sorted(public)) or "none"
        return Verdict("invalid", f"signed with key id {key_id!r}, which no public key given is for (given: {known})")
    try:
        signature = base64.b64decode(str(details.get("signature", "")), validate=True)
        body = {k: v for k, v in details.items() if k != "signature"}
        public[key_id].verify(signature, SIGNATURE_CONTEXT + canonical_json(body))
    except (binascii.Error, ValueError, InvalidSignature):
        return Verdict("invalid", f"the signature is not valid under public key {key_id!r} (forged or altered)")
    try:
        head = parse_signed_head(details)
    except CheckpointError as exc:
        return Verdict("invalid", f"signed, but malformed: {exc}")
    if partition is not None and head.partition != partition:
        return Verdict("invalid", f"signed for partition {head.partition}, found in partition {partition}")
    return Verdict("valid", head=head)


# --- checkpoints from before signatures ---------------------------------------------------------------------------
def checkpoint_body(partition: int, head_seq: int, head_hash: str) -> dict[str, Any]:
    """What a legacy checkpoint's MAC covers: the partition, the seq and hash of its head, and the event count."""
    return {"partition": partition, "head_seq": head_seq, "head_hash": head_hash, "count": head_seq + 1}


def checkpoint_mac(key: bytes, body: Mapping[str, Any]) -> str:
    return hmac.new(key, canonical_json(dict(body)), hashlib.sha256).hexdigest()


def verify_legacy_checkpoint(details: Mapping[str, Any], partition: int, keys: Mapping[str, bytes]) -> Verdict:
    key_id = details.get("key_id")
    try:
        body = checkpoint_body(partition, int(details["head_seq"]), str(details["head_hash"]))
    except (KeyError, TypeError, ValueError):
        return Verdict("invalid", "legacy checkpoint lacks head_seq/head_hash", legacy=True)
    if details.get("count") != body["count"]:
        return Verdict("invalid", "legacy checkpoint count does not match its head seq", legacy=True)
    if not isinstance(key_id, str) or key_id not in keys:
        return Verdict(
            "unverifiable",
            f"legacy HMAC checkpoint under key id {key_id!r}: no HMAC key for it was given "
            "(SLUICE_AUDIT_HMAC_KEYS), so it can be neither confirmed nor refuted",
            legacy=True,
        )
    if not hmac.compare_digest(str(details.get("mac", "")), checkpoint_mac(keys[key_id], body)):
        return Verdict("invalid", "legacy checkpoint MAC is invalid (forged or altered checkpoint)", legacy=True)
    return Verdict("valid", legacy=True)


def verify_checkpoint(details: Mapping[str, Any], partition: int, keys: CheckpointKeys) -> Verdict:
    """Any checkpoint's verdict: a signed tree head, or a legacy HMAC checkpoint."""
    if "signature" in details or details.get("format") == STH_FORMAT:
        return verify_signed_head(details, keys.public, partition)
    if "mac" in details:
        return verify_legacy_checkpoint(details, partition, keys.hmac)
    return Verdict("invalid", "neither a signed tree head nor a legacy HMAC checkpoint")
