"""The Merkle tree is RFC 6962's: the reference roots and proofs, every index of every small tree, no forgery."""

from __future__ import annotations

import hashlib

import pytest

from agents.audit_chain.merkle import (
    EMPTY_ROOT,
    MerkleError,
    MerkleFrontier,
    event_leaf,
    inclusion_path,
    leaf_hash,
    node_hash,
    root_from_inclusion_path,
    root_of,
    verify_inclusion,
)

# The Certificate Transparency reference inputs and the root of each prefix (RFC 6962 test data).
REFERENCE_INPUTS = [
    bytes.fromhex(h)
    for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f")
]
REFERENCE_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
REFERENCE_PROOFS = {
    (0, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (5, 8): [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
}
LEAVES = [leaf_hash(data) for data in REFERENCE_INPUTS]


def naive_root(leaves: list[bytes]) -> bytes:
    """MTH as RFC 6962 §2.1 writes it, recursion on list slices: the definition the fast code must equal."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(naive_root(leaves[:k]), naive_root(leaves[k:]))


def many(n: int) -> list[bytes]:
    return [leaf_hash(f"event-{i}".encode()) for i in range(n)]


def test_roots_of_the_reference_prefixes_are_rfc_6962s() -> None:
    assert (
        root_of([]) == EMPTY_ROOT == bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    )
    for size, expected in enumerate(REFERENCE_ROOTS, start=1):
        assert root_of(LEAVES[:size]).hex() == expected, size


def test_reference_inclusion_proofs_are_produced_and_verify() -> None:
    root = root_of(LEAVES)
    for (index, size), expected in REFERENCE_PROOFS.items():
        path = inclusion_path(LEAVES[:size], index)
        assert [p.hex() for p in path] == expected
        assert verify_inclusion(LEAVES[index], index, size, path, root)


@pytest.mark.parametrize("size", range(1, 10))
def test_every_index_of_trees_of_one_to_nine_leaves_proves_against_the_root(size: int) -> None:
    leaves = many(size)
    root = root_of(leaves)
    assert root == naive_root(leaves)
    for index in range(size):
        path = inclusion_path(leaves, index)
        assert root_from_inclusion_path(leaves[index], index, size, path) == root, (size, index)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 8, 9, 16, 17, 33])
def test_the_frontier_grows_to_the_same_root_at_every_size(size: int) -> None:
    leaves = many(size)
    frontier = MerkleFrontier()
    for n, leaf in enumerate(leaves, start=1):
        frontier.append(leaf)
        assert frontier.size == n and len(frontier.nodes) == n.bit_count()
        assert frontier.root() == naive_root(leaves[:n])
    again = MerkleFrontier.from_hex(frontier.size, frontier.to_hex())
    again.append(leaf_hash(b"next"))
    assert again.root() == naive_root([*leaves, leaf_hash(b"next")])


@pytest.mark.parametrize("size", range(1, 10))
def test_a_proof_fails_after_any_tampering(size: int) -> None:
    leaves = many(size)
    root = root_of(leaves)
    for index in range(size):
        path = inclusion_path(leaves, index)
        leaf = leaves[index]
        assert not verify_inclusion(leaf_hash(b"other"), index, size, path, root), "another leaf"
        for other in range(size):
            if other != index:
                assert not verify_inclusion(leaf, other, size, path, root), ("moved", index, other)
        for position in range(len(path)):
            bent = list(path)
            bent[position] = bytes([path[position][0] ^ 1]) + path[position][1:]
            assert not verify_inclusion(leaf, index, size, bent, root), ("path entry", index, position)
        assert not verify_inclusion(leaf, index, size, [*path, leaves[0]], root), "longer path"
        if path:
            assert not verify_inclusion(leaf, index, size, path[:-1], root), "shorter path"
        # The tree size is not bound by the path alone (leaf 0 of 9 and of 10 leaves share a path shape): the
        # signed tree head binds it, and check-proof takes it from there (tests/unit/audit/test_proof.py).
        assert not verify_inclusion(leaf, index, size, path, leaf_hash(b"root")), "other root"


def test_an_index_outside_the_tree_is_refused() -> None:
    with pytest.raises(MerkleError):
        inclusion_path(many(3), 3)
    with pytest.raises(MerkleError):
        root_from_inclusion_path(LEAVES[0], 4, 4, [])
    assert not verify_inclusion(LEAVES[0], -1, 4, [], root_of(LEAVES[:4]))


def test_a_malformed_frontier_is_refused() -> None:
    frontier = MerkleFrontier()
    for leaf in many(6):
        frontier.append(leaf)
    with pytest.raises(MerkleError):
        MerkleFrontier.from_hex(7, frontier.to_hex())  # 7 leaves need three nodes
    with pytest.raises(MerkleError):
        MerkleFrontier.from_hex(6, [frontier.to_hex()[0], "ab"])
    with pytest.raises(MerkleError):
        MerkleFrontier.from_hex(6, ["zz" * 32, frontier.to_hex()[1]])


def test_event_leaves_hash_the_bytes_of_the_event_hash() -> None:
    digest = hashlib.sha256(b"event").hexdigest()
    assert event_leaf(digest) == leaf_hash(bytes.fromhex(digest))
    with pytest.raises(MerkleError):
        event_leaf("abc")
