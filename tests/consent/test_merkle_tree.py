"""Proof generation from complete nodes: correct for every (m, n) and O(log n) in one batch."""

from __future__ import annotations

import base64
import math

import pytest

from consent.lib import merkle
from consent.lib.merkle import (
    EMPTY_ROOT,
    MemoryNodeStore,
    MissingNodesError,
    ProofError,
    TreeBuilder,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_of,
    tree_root,
    verify_consistency,
    verify_inclusion,
)

# RFC 6962's eight test leaves, from which transparency-dev's vectors are built.
RFC_LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
]
MAX_SIZE = 64


def leaves(count: int) -> list[bytes]:
    return [leaf_hash(index.to_bytes(4, "big")) for index in range(count)]


@pytest.fixture(scope="module")
def store() -> MemoryNodeStore:
    return MemoryNodeStore(leaves(MAX_SIZE))


def test_hashing_matches_rfc_6962_and_the_known_roots():
    hashes = [leaf_hash(data) for data in RFC_LEAVES]
    assert base64.b64encode(root_of(hashes)).decode() == (
        "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg="
    )
    assert tree_root(MemoryNodeStore(hashes), 8) == root_of(hashes)
    assert base64.b64encode(leaf_hash(b"")).decode() == (
        "bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0="
    )
    assert tree_root(MemoryNodeStore(), 0) == EMPTY_ROOT == root_of([])


def test_the_root_of_every_past_size_comes_from_stored_complete_nodes(store):
    all_leaves = leaves(MAX_SIZE)
    for size in range(MAX_SIZE + 1):
        assert tree_root(store, size) == root_of(all_leaves[:size]), size


def test_inclusion_proofs_for_every_leaf_of_every_size_up_to_64_verify(store):
    all_leaves = leaves(MAX_SIZE)
    for size in range(1, MAX_SIZE + 1):
        root = root_of(all_leaves[:size])
        for index in range(size):
            proof = inclusion_proof(store, index, size)
            assert proof.root == root
            assert proof.leaf_hash == all_leaves[index]
            assert list(proof.path) == merkle.naive_inclusion_proof(all_leaves[:size], index)
            verify_inclusion(index, size, all_leaves[index], proof.path, root)


def test_consistency_proofs_for_every_pair_of_sizes_up_to_64_verify(store):
    all_leaves = leaves(MAX_SIZE)
    for size2 in range(MAX_SIZE + 1):
        root2 = root_of(all_leaves[:size2])
        for size1 in range(size2 + 1):
            proof = consistency_proof(store, size1, size2)
            root1 = root_of(all_leaves[:size1])
            assert (proof.root1, proof.root2) == (root1, root2)
            assert list(proof.path) == merkle.naive_consistency_proof(all_leaves[:size2], size1)
            verify_consistency(size1, size2, root1, root2, proof.path)


def test_a_proof_for_one_leaf_or_size_does_not_verify_another(store):
    all_leaves = leaves(MAX_SIZE)
    root = root_of(all_leaves[:13])
    proof = inclusion_proof(store, 5, 13)
    with pytest.raises(ProofError):
        verify_inclusion(6, 13, all_leaves[5], proof.path, root)
    with pytest.raises(ProofError):
        verify_inclusion(5, 13, all_leaves[6], proof.path, root)
    with pytest.raises(ProofError):
        verify_inclusion(5, 14, all_leaves[5], proof.path, root_of(all_leaves[:14]))
    consistency = consistency_proof(store, 5, 13)
    with pytest.raises(ProofError):
        verify_consistency(6, 13, root_of(all_leaves[:6]), root, consistency.path)


def test_a_proof_reads_one_batch_of_logarithmically_many_hashes():
    size = 100_000
    large = MemoryNodeStore(leaf_hash(index.to_bytes(4, "big")) for index in range(size))
    assert len(large.nodes) < 2 * size
    bound = 2 * math.ceil(math.log2(size)) + 2
    for index in (0, 1, 4_095, 65_536, 77_777, size - 1):
        large.batches = large.hashes_read = 0
        proof = inclusion_proof(large, index, size)
        assert large.batches == 1
        assert large.hashes_read <= bound, (index, large.hashes_read)
        proof.verify()
    for size1 in (1, 2, 3, 1_000, 65_536, 99_999):
        large.batches = large.hashes_read = 0
        consistency_proof(large, size1, size).verify()
        assert large.batches == 1
        assert large.hashes_read <= 2 * bound


def test_appending_writes_about_two_nodes_per_leaf_and_reads_one_batch():
    store = MemoryNodeStore()
    for count in range(1, 1025):
        before = store.batches
        store.append(leaf_hash(count.to_bytes(4, "big")))
        assert store.batches - before <= 1
    assert len(store.nodes) == 2 * 1024 - 1


def test_the_streaming_builder_emits_exactly_the_stored_complete_nodes():
    all_leaves = leaves(200)
    builder = TreeBuilder()
    emitted: dict[tuple[int, int], bytes] = {}
    for count, value in enumerate(all_leaves, start=1):
        for level, index, node in builder.push(value):
            emitted[(level, index)] = node
        assert builder.root() == root_of(all_leaves[:count])
    assert emitted == MemoryNodeStore(all_leaves).nodes


def test_asking_beyond_the_stored_tree_reports_the_missing_nodes():
    small = MemoryNodeStore(leaves(5))
    with pytest.raises(MissingNodesError, match="missing"):
        inclusion_proof(small, 0, 8)
    with pytest.raises(ValueError):
        inclusion_proof(small, 5, 5)
    with pytest.raises(ValueError):
        consistency_proof(small, 4, 3)


def test_proof_documents_round_trip_through_the_vector_layout(store):
    proof = inclusion_proof(store, 9, 37)
    document = proof.to_json()
    assert set(document) == {"leafIdx", "treeSize", "root", "leafHash", "proof"}
    assert merkle.InclusionProof.from_json(document) == proof
    consistency = consistency_proof(store, 9, 37)
    document = consistency.to_json()
    assert set(document) == {"size1", "size2", "root1", "root2", "proof"}
    assert merkle.ConsistencyProof.from_json(document) == consistency


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "JSON object"),
        ({"leafIdx": 0}, "lacks"),
        (
            {"leafIdx": True, "treeSize": 1, "root": "", "leafHash": "", "proof": []},
            "leafIdx",
        ),
        (
            {"leafIdx": -1, "treeSize": 1, "root": "", "leafHash": "", "proof": []},
            "leafIdx",
        ),
        (
            {"leafIdx": 0, "treeSize": 1, "root": "@@", "leafHash": "", "proof": []},
            "root",
        ),
        (
            {"leafIdx": 0, "treeSize": 1, "root": "", "leafHash": "", "proof": "x"},
            "proof",
        ),
    ],
)
def test_malformed_proof_documents_are_rejected_with_a_reason(document, message):
    with pytest.raises(ProofError, match=message):
        merkle.InclusionProof.from_json(document).verify()
