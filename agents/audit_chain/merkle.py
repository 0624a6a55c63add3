"""RFC 6962 / RFC 9162 Merkle tree hashing: the tree a signed tree head commits to, and inclusion proofs.

Leaf i of a partition's tree is its event with seq i: leaf hash = SHA-256(0x00 || the 32 bytes of the event's
`hash`), interior node = SHA-256(0x01 || left || right), the split at the largest power of two below the size.
The same hashes as Certificate Transparency, so any RFC 9162 verifier checks our proofs.

`MerkleFrontier` is the compact form the chainer keeps and every checkpoint carries: the roots of the perfect
subtrees that make up a tree of `size` leaves (one per bit set in the size, largest first). Appending a leaf costs
O(1) amortised hashes, the root O(log n); so the chainer extends its tree without ever rereading the chain.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

EMPTY_ROOT = hashlib.sha256(b"").digest()
HASH_BYTES = 32


class MerkleError(ValueError):
    """A malformed tree description (frontier, proof) or an index outside the tree."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def event_leaf(event_hash_hex: str) -> bytes:
    """The leaf hash of a chain event: over the 32 bytes its `hash` field spells in hex."""
    try:
        raw = bytes.fromhex(event_hash_hex)
    except ValueError as exc:
        raise MerkleError("an event hash is not hexadecimal") from exc
    if len(raw) != HASH_BYTES:
        raise MerkleError("an event hash is not 32 bytes")
    return leaf_hash(raw)


def _split(size: int) -> int:
    """The largest power of two strictly below `size` (size ≥ 2): where RFC 6962 splits a tree."""
    return 1 << ((size - 1).bit_length() - 1)


def root_of(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over leaf hashes (already hashed with leaf_hash)."""
    return _subtree_root(leaves, 0, len(leaves)) if leaves else EMPTY_ROOT


def _subtree_root(leaves: Sequence[bytes], start: int, end: int) -> bytes:
    if end - start == 1:
        return leaves[start]
    middle = start + _split(end - start)
    return node_hash(_subtree_root(leaves, start, middle), _subtree_root(leaves, middle, end))


def inclusion_path(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(index, D[n]) of RFC 6962 §2.1.1: the sibling hashes from the leaf up to the root."""
    if not 0 <= index < len(leaves):
        raise MerkleError(f"leaf index {index} is outside a tree of {len(leaves)} leaves")
    path: list[bytes] = []
    start, end = 0, len(leaves)
    while end - start > 1:
        middle = start + _split(end - start)
        if index < middle:
            path.append(_subtree_root(leaves, middle, end))
            end = middle
        else:
            path.append(_subtree_root(leaves, start, middle))
            start = middle
    path.reverse()  # collected root-down; the proof lists them leaf-up
    return path


def root_from_inclusion_path(leaf: bytes, index: int, size: int, path: Sequence[bytes]) -> bytes:
    """The root a proof leads to (RFC 9162 §2.1.3.2); raises MerkleError when the proof cannot fit the tree."""
    if not 0 <= index < size:
        raise MerkleError(f"leaf index {index} is outside a tree of {size} leaves")
    fn, sn, root = index, size - 1, leaf
    for sibling in path:
        if len(sibling) != HASH_BYTES:
            raise MerkleError("an audit path entry is not 32 bytes")
        if sn == 0:
            raise MerkleError("the audit path is longer than the tree is deep")
        if fn & 1 or fn == sn:
            root = node_hash(sibling, root)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            root = node_hash(root, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise MerkleError("the audit path is shorter than the tree is deep")
    return root


def verify_inclusion(leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes) -> bool:
    try:
        return root_from_inclusion_path(leaf, index, size, path) == root
    except MerkleError:
        return False


@dataclass
class MerkleFrontier:
    """A growing tree as the roots of its perfect subtrees, largest first (one per bit set in `size`)."""

    size: int = 0
    nodes: list[bytes] = field(default_factory=list)

    def append(self, leaf: bytes) -> None:
        carry, size = leaf, self.size
        while size & 1:  # every trailing full subtree merges with the new leaf into one twice its size
            carry = node_hash(self.nodes.pop(), carry)
            size >>= 1
        self.nodes.append(carry)
        self.size += 1

    def root(self) -> bytes:
        if not self.nodes:
            return EMPTY_ROOT
        root = self.nodes[-1]
        for node in reversed(self.nodes[:-1]):
            root = node_hash(node, root)
        return root

    def copy(self) -> MerkleFrontier:
        return MerkleFrontier(self.size, list(self.nodes))

    def to_hex(self) -> list[str]:
        return [node.hex() for node in self.nodes]

    @classmethod
    def from_hex(cls, size: int, nodes: Sequence[str]) -> MerkleFrontier:
        """The frontier a checkpoint carries; raises MerkleError unless it has one 32-byte node per bit of size."""
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise MerkleError("tree size is not an integer ≥ 0")
        if len(nodes) != size.bit_count():
            raise MerkleError(f"a tree of {size} leaves has {size.bit_count()} frontier nodes, not {len(nodes)}")
        try:
            raw = [bytes.fromhex(node) for node in nodes]
        except (TypeError, ValueError) as exc:
            raise MerkleError("a frontier node is not hexadecimal") from exc
        if any(len(node) != HASH_BYTES for node in raw):
            raise MerkleError("a frontier node is not 32 bytes")
        return cls(size, raw)
