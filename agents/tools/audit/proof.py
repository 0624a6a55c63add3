"""Inclusion proofs: that one audit event is in a partition's Merkle tree, under a head the chainer signed.

`sluice audit prove EVENT_ID` reads the audit topic once, follows each partition's chain from genesis, finds the
event and the latest signed tree head that covers it, and writes a proof (format `sluice-audit-inclusion-proof/1`):

    topic, partition, offset    where the event was read
    event                       the event verbatim (hashes, counts, types and ids, never text)
    leaf_index, tree_size       its seq, and the size of the signed tree
    audit_path                  RFC 6962 sibling hashes, leaf to root (hex)
    signed_head                 the checkpoint's details: the signed tree head and its Ed25519 signature
    checkpoint                  offset and seq of the checkpoint event that carries it

`check_proof` verifies one offline with the public key of the head's key id only: the event's hash is
recomputed from its content; its leaf, SHA-256(0x00 || hash bytes), is folded up the audit path (RFC 9162 §2.1.3.2)
into a root that must equal the signed root; the signature must verify; and the seq must not be one the head
records as rejected. Nothing else is trusted, so a proof read from anywhere proves what it says or fails.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agents.audit_chain.chain import CHECKPOINT_EVENT, GENESIS, event_hash
from agents.audit_chain.checkpoints import STH_FORMAT, verify_signed_head
from agents.audit_chain.merkle import MerkleError, event_leaf, inclusion_path, root_from_inclusion_path, root_of
from agents.core.audit_keys import CheckpointKeys
from agents.tools.audit.entries import parse_event

PROOF_FORMAT = "sluice-audit-inclusion-proof/1"


class ProofError(ValueError):
    """No proof can be made, or a proof does not verify (why, in words)."""


@dataclass
class _Partition:
    """One partition's chain followed from genesis: the leaf of each seq, and what it needs for the target."""

    leaves: list[bytes] = field(default_factory=list)
    last_hash: str = GENESIS
    target: tuple[int, dict[str, Any]] | None = None  # (offset, event) once found in the chain
    heads: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (offset, checkpoint event) after it


class InclusionProver:
    """Feed it the topic's records (offset order per partition), then ask for the proof of `event_id`."""

    def __init__(self, topic: str, event_id: str) -> None:
        self.topic = topic
        self.event_id = event_id
        self._partitions: dict[int, _Partition] = {}
        self._off_chain: list[tuple[int, int]] = []

    def feed(self, partition: int, offset: int, value: bytes | None) -> None:
        state = self._partitions.setdefault(partition, _Partition())
        parsed = parse_event(value)
        if not isinstance(parsed, dict):
            return
        event = parsed
        seq = event["seq"]
        try:
            links = (
                seq == len(state.leaves)
                and event["prev_hash"] == state.last_hash
                and event_hash(event) == event["hash"]
            )
        except ValueError:  # NaN: never sealed
            links = False
        if not links:
            if event.get("event_id") == self.event_id:
                self._off_chain.append((partition, offset))
            return
        try:
            state.leaves.append(event_leaf(event["hash"]))
        except MerkleError:
            return
        state.last_hash = event["hash"]
        if state.target is None and event.get("event_id") == self.event_id:
            state.target = (offset, event)
        elif state.target is not None and event.get("event_type") == CHECKPOINT_EVENT:
            details = event.get("details")
            if isinstance(details, dict) and details.get("format") == STH_FORMAT:
                state.heads.append((offset, event))

    def prove(self, keys: CheckpointKeys | None = None) -> dict[str, Any]:
        """The proof; `keys` (when given) must verify the signed head chosen. ProofError when none can be made."""
        found = [(p, s) for p, s in sorted(self._partitions.items()) if s.target is not None]
        if not found:
            if self._off_chain:
                partition, offset = self._off_chain[0]
                raise ProofError(
                    f"event {self.event_id!r} is at partition {partition}, offset {offset}, but not part of the chain "
                    "read from genesis (see `sluice audit verify`)"
                )
            raise ProofError(f"no event {self.event_id!r} in the chains of {self.topic}")
        partition, state = found[0]
        assert state.target is not None
        offset, event = state.target
        seq = int(event["seq"])
        reasons: list[str] = []
        for head_offset, checkpoint in reversed(state.heads):
            details = checkpoint["details"]
            size = details.get("tree_size")
            if not isinstance(size, int) or not seq < size <= len(state.leaves):
                continue
            if keys is not None:
                verdict = verify_signed_head(details, keys.public, partition)
                if not verdict.valid:
                    reasons.append(f"the head at offset {head_offset}: {verdict.reason}")
                    continue
            if root_of(state.leaves[:size]).hex() != details.get("root_hash"):
                reasons.append(f"the head at offset {head_offset} signs another root than the events read")
                continue
            rejected = details.get("rejected") or []
            if any(isinstance(r, list) and len(r) == 2 and r[0] <= seq <= r[1] for r in rejected):
                raise ProofError(
                    f"event {self.event_id!r} (seq {seq}) is recorded as rejected by the chainer in the head at offset "
                    f"{head_offset}: it was not written by the chainer"
                )
            path = inclusion_path(state.leaves[:size], seq)
            return {
                "format": PROOF_FORMAT,
                "topic": self.topic,
                "partition": partition,
                "offset": offset,
                "event": event,
                "leaf_index": seq,
                "tree_size": size,
                "leaf_hash": state.leaves[seq].hex(),
                "audit_path": [node.hex() for node in path],
                "signed_head": details,
                "checkpoint": {"offset": head_offset, "seq": checkpoint["seq"], "event_id": checkpoint.get("event_id")},
            }
        why = f" ({'; '.join(reasons)})" if reasons else ""
        raise ProofError(
            f"event {self.event_id!r} (partition {partition}, seq {seq}) is not covered by a valid signed tree head "
            f"yet{why}: the next checkpoint covers it (within SLUICE_AUDIT_CHECKPOINT_INTERVAL_S of quiet)"
        )


def prove(
    records: Iterable[tuple[int, int, bytes | None]], topic: str, event_id: str, keys: CheckpointKeys | None = None
) -> dict[str, Any]:
    prover = InclusionProver(topic, event_id)
    for partition, offset, value in records:
        prover.feed(partition, offset, value)
    return prover.prove(keys)


@dataclass(frozen=True)
class ProofCheck:
    """What a proof that verified establishes."""

    partition: int
    seq: int
    tree_size: int
    key_id: str
    signed_at: str
    event_id: str | None
    event_type: str | None
    topic: str

    def describe(self) -> str:
        return (
            f"event {self.event_id} ({self.event_type}) is seq {self.seq} of {self.topic} partition {self.partition}, "
            f"included in the tree of {self.tree_size} events signed by key {self.key_id} at {self.signed_at}"
        )


def check_proof(proof: Mapping[str, Any], public: Mapping[str, Ed25519PublicKey]) -> ProofCheck:
    """Verifies an inclusion proof with public keys only; raises ProofError naming the first thing that fails."""
    if proof.get("format") != PROOF_FORMAT:
        raise ProofError(f"not a {PROOF_FORMAT} proof")
    event, details = proof.get("event"), proof.get("signed_head")
    if not isinstance(event, dict) or not isinstance(details, dict):
        raise ProofError("the proof lacks the event or the signed head")
    try:
        recomputed = event_hash(event)
    except (TypeError, ValueError):
        raise ProofError("the event cannot be hashed (not JSON-encodable)") from None
    if recomputed != event.get("hash"):
        raise ProofError("the event's content does not hash to its `hash`: it was altered")
    index = proof.get("leaf_index")
    if type(index) is not int or index != event.get("seq"):
        raise ProofError("leaf_index is not the event's seq")
    partition = proof.get("partition")
    if type(partition) is not int:
        raise ProofError("partition is not an integer")
    verdict = verify_signed_head(details, public, partition)
    if not verdict.valid or verdict.head is None:
        raise ProofError(f"signed head: {verdict.reason}")
    head = verdict.head
    if proof.get("tree_size") != head.tree_size:
        raise ProofError("tree_size is not the signed head's")
    if head.rejects(index):
        raise ProofError(f"the signed head records seq {index} as rejected: the chainer did not write this event")
    path_hex = proof.get("audit_path")
    if not isinstance(path_hex, list) or not all(isinstance(node, str) for node in path_hex):
        raise ProofError("audit_path is not a list of hashes")
    try:
        path = [bytes.fromhex(node) for node in path_hex]
        root = root_from_inclusion_path(event_leaf(str(event["hash"])), index, head.tree_size, path)
    except (ValueError, MerkleError) as exc:
        raise ProofError(f"audit path: {exc}") from None
    if root.hex() != head.root_hash:
        raise ProofError("the audit path does not lead to the signed root: the event is not in that tree")
    event_id, event_type = event.get("event_id"), event.get("event_type")
    return ProofCheck(
        partition=partition,
        seq=index,
        tree_size=head.tree_size,
        key_id=head.key_id,
        signed_at=head.signed_at,
        event_id=event_id if isinstance(event_id, str) else None,
        event_type=event_type if isinstance(event_type, str) else None,
        topic=head.topic,
    )
