"""RFC 6962 / RFC 9162 Merkle tree maths: hashing, proof generation and proof verification.

One cohesive module (over 500 lines): building and verifying the same proofs sit side by side,
so the two halves of each algorithm can be read against each other and against the RFC.

Storage model. Every node of the RFC 6962 tree over leaves ``[0, n)`` is either a *perfect*
subtree (``2**L`` leaves starting at a multiple of ``2**L``) or a node on the right border
whose range ends at ``n``. Perfect subtrees never change once their last leaf is appended, so
they are the only nodes we store: the *complete node* ``(L, i)`` covers leaves
``[i * 2**L, (i + 1) * 2**L)``. Appending leaf ``n`` writes ``(0, n)`` plus one node per
trailing 1-bit of ``n`` (about two rows per leaf on average). Any other node - including the
root of any past tree size - is a right fold of at most ``log2(n) + 1`` complete nodes, so a
root, an inclusion proof or a consistency proof needs ``O(log n)`` stored hashes, which we
compute up front and fetch from the store in a single batch.

Verification follows RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency) step by step,
with the input checks transparency-dev/merkle adds (hash lengths, exact proof length). It is
checked against that project's test vectors in ``tests/consent/test_merkle_vectors.py``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from consent.lib.signing import b64decode, b64encode

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
# RFC 6962 §2.1: the hash of the empty tree is the hash of the empty string.
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeKey = tuple[int, int]  # (level, index): the perfect subtree of 2**level leaves at index


class ProofError(ValueError):
    """A proof (or its inputs) does not verify; the message is a one-line reason."""


class MissingNodesError(LookupError):
    """The store lacks complete nodes the tree of the requested size must have."""

    def __init__(self, missing: Iterable[NodeKey]) -> None:
        self.missing = sorted(missing)
        shown = ", ".join(f"(level {level}, index {index})" for level, index in self.missing[:5])
        more = "" if len(self.missing) <= 5 else f" and {len(self.missing) - 5} more"
        super().__init__(f"complete nodes missing from the store: {shown}{more}")


class NodeReader(Protocol):
    def get_nodes(self, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]:
        """Return the stored hash of every key that exists (missing keys are left out)."""


# --- hashing ------------------------------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _split_point(size: int) -> int:
    """The largest power of two strictly smaller than ``size`` (RFC 6962 §2.1's k)."""
    return 1 << ((size - 1).bit_length() - 1)


# --- reference implementation (whole leaf list in memory) ---------------------------------------
# Written straight from the RFC's recursive definitions. The store-based functions below are
# tested against these, and the benchmark uses them as the "load every leaf" baseline.


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) from a complete list of leaf hashes."""

    def mth(start: int, end: int) -> bytes:
        if end - start == 1:
            return leaf_hashes[start]
        k = _split_point(end - start)
        return node_hash(mth(start, start + k), mth(start + k, end))

    if not leaf_hashes:
        return EMPTY_ROOT
    return mth(0, len(leaf_hashes))


def naive_inclusion_proof(leaf_hashes: Sequence[bytes], leaf_index: int) -> list[bytes]:
    """PATH(m, D[n]) from a complete list of leaf hashes."""
    if not 0 <= leaf_index < len(leaf_hashes):
        raise ValueError("leaf index out of range")
    return [
        root_of(leaf_hashes[start:end])
        for start, end in _inclusion_ranges(leaf_index, len(leaf_hashes))
    ]


def naive_consistency_proof(leaf_hashes: Sequence[bytes], size1: int) -> list[bytes]:
    """PROOF(m, D[n]) from a complete list of leaf hashes."""
    if not 0 <= size1 <= len(leaf_hashes):
        raise ValueError("size1 out of range")
    return [
        root_of(leaf_hashes[start:end])
        for start, end in _consistency_ranges(size1, len(leaf_hashes))
    ]


# --- which subtrees a proof needs ---------------------------------------------------------------


def _inclusion_ranges(leaf_index: int, tree_size: int) -> list[tuple[int, int]]:
    """Leaf ranges of the siblings on the path of ``leaf_index``, leaf first (RFC 9162 PATH)."""
    ranges = []
    start, end = 0, tree_size
    while end - start > 1:
        mid = start + _split_point(end - start)
        if leaf_index < mid:
            ranges.append((mid, end))
            end = mid
        else:
            ranges.append((start, mid))
            start = mid
    # PATH appends the sibling of the top split last, so the walk from the root is reversed.
    ranges.reverse()
    return ranges


def _consistency_ranges(size1: int, size2: int) -> list[tuple[int, int]]:
    """Leaf ranges of RFC 9162 SUBPROOF(size1, D[0:size2], true), in proof order."""
    if size1 == 0 or size1 == size2:
        return []
    ranges = []
    start, end, m, complete_subtree = 0, size2, size1, True
    while True:
        size = end - start
        if m == size:
            if not complete_subtree:
                ranges.append((start, end))
            break
        k = _split_point(size)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
            m -= k
            complete_subtree = False
    ranges.reverse()
    return ranges


def _complete_nodes_of(start: int, end: int) -> list[NodeKey]:
    """The complete nodes whose right fold is the RFC 6962 hash of leaves ``[start, end)``.

    Only ranges that are nodes of some RFC 6962 tree qualify (those the functions above
    produce): their size's binary digits, largest first, are aligned perfect subtrees.
    """
    size = end - start
    if size <= 0:
        raise ValueError(f"empty leaf range [{start}, {end})")
    keys = []
    position = start
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            if position % (1 << level):
                raise ValueError(f"leaf range [{start}, {end}) is not a Merkle tree node")
            keys.append((level, position >> level))
            position += 1 << level
    return keys


def _fetch_ranges(
    store: NodeReader, ranges: Sequence[tuple[int, int]], extra: Sequence[NodeKey] = ()
) -> tuple[list[bytes], dict[NodeKey, bytes]]:
    """Hash every range with one ``get_nodes`` call; also return the fetched nodes."""
    plans = [_complete_nodes_of(start, end) for start, end in ranges]
    wanted = {key for plan in plans for key in plan}
    wanted.update(extra)
    nodes = dict(store.get_nodes(sorted(wanted))) if wanted else {}
    missing = wanted.difference(nodes)
    if missing:
        raise MissingNodesError(missing)
    hashes = []
    for plan in plans:
        value = nodes[plan[-1]]
        for key in reversed(plan[:-1]):
            value = node_hash(nodes[key], value)
        hashes.append(value)
    return hashes, nodes


# --- proofs as data -----------------------------------------------------------------------------


def _require_size(name: str, value: Any) -> int:
    # bool is an int in Python; a JSON ``true`` is not a tree size.
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ProofError(f"{name} must be a non-negative integer")
    return value


def _require_hash(name: str, value: Any) -> bytes:
    if not isinstance(value, bytes | bytearray):
        raise ProofError(f"{name} must be bytes")
    if len(value) != HASH_SIZE:
        raise ProofError(f"{name} is {len(value)} bytes, a SHA-256 hash is {HASH_SIZE}")
    return bytes(value)


def _decode_hash(name: str, value: Any) -> bytes:
    try:
        return b64decode(value)
    except ValueError as error:
        raise ProofError(f"{name}: {error}") from None


def _decode_path(value: Any) -> list[bytes]:
    # transparency-dev writes an empty proof as null.
    if value is None:
        return []
    if not isinstance(value, list):
        raise ProofError("proof must be a list of base64 hashes")
    return [_decode_hash(f"proof[{i}]", item) for i, item in enumerate(value)]


def _require_fields(data: Any, fields: Sequence[str]) -> None:
    if not isinstance(data, Mapping):
        raise ProofError("proof document must be a JSON object")
    missing = [name for name in fields if name not in data]
    if missing:
        raise ProofError(f"proof document lacks {', '.join(missing)}")


@dataclass(frozen=True)
class InclusionProof:
    leaf_index: int
    tree_size: int
    leaf_hash: bytes
    root: bytes
    path: tuple[bytes, ...]

    def verify(self) -> None:
        verify_inclusion(self.leaf_index, self.tree_size, self.leaf_hash, self.path, self.root)

    def to_json(self) -> dict[str, Any]:
        """The transparency-dev test-vector layout, so clients can reuse one verifier."""
        return {
            "leafIdx": self.leaf_index,
            "treeSize": self.tree_size,
            "root": b64encode(self.root),
            "leafHash": b64encode(self.leaf_hash),
            "proof": [b64encode(item) for item in self.path],
        }

    @classmethod
    def from_json(cls, data: Any) -> InclusionProof:
        """Parse the vector layout; raises ``ProofError`` for malformed documents."""
        _require_fields(data, ("leafIdx", "treeSize", "root", "leafHash", "proof"))
        return cls(
            leaf_index=_require_size("leafIdx", data["leafIdx"]),
            tree_size=_require_size("treeSize", data["treeSize"]),
            leaf_hash=_decode_hash("leafHash", data["leafHash"]),
            root=_decode_hash("root", data["root"]),
            path=tuple(_decode_path(data["proof"])),
        )


@dataclass(frozen=True)
class ConsistencyProof:
    size1: int
    size2: int
    root1: bytes
    root2: bytes
    path: tuple[bytes, ...]

    def verify(self) -> None:
        verify_consistency(self.size1, self.size2, self.root1, self.root2, self.path)

    def to_json(self) -> dict[str, Any]:
        return {
            "size1": self.size1,
            "size2": self.size2,
            "root1": b64encode(self.root1),
            "root2": b64encode(self.root2),
            "proof": [b64encode(item) for item in self.path],
        }

    @classmethod
    def from_json(cls, data: Any) -> ConsistencyProof:
        _require_fields(data, ("size1", "size2", "root1", "root2", "proof"))
        return cls(
            size1=_require_size("size1", data["size1"]),
            size2=_require_size("size2", data["size2"]),
            root1=_decode_hash("root1", data["root1"]),
            root2=_decode_hash("root2", data["root2"]),
            path=tuple(_decode_path(data["proof"])),
        )


# --- generation from a node store ---------------------------------------------------------------


def tree_root(store: NodeReader, tree_size: int) -> bytes:
    """Root of the tree of the first ``tree_size`` leaves (any past size), one batch read."""
    _require_size("tree_size", tree_size)
    if tree_size == 0:
        return EMPTY_ROOT
    (root,), _ = _fetch_ranges(store, [(0, tree_size)])
    return root


def inclusion_proof(store: NodeReader, leaf_index: int, tree_size: int) -> InclusionProof:
    """Inclusion proof of leaf ``leaf_index`` in the tree of size ``tree_size``, one batch read."""
    _require_size("leaf_index", leaf_index)
    _require_size("tree_size", tree_size)
    if leaf_index >= tree_size:
        raise ValueError(f"leaf {leaf_index} is not in a tree of {tree_size} leaves")
    ranges = _inclusion_ranges(leaf_index, tree_size)
    hashes, nodes = _fetch_ranges(store, [(0, tree_size), *ranges], extra=[(0, leaf_index)])
    return InclusionProof(
        leaf_index=leaf_index,
        tree_size=tree_size,
        leaf_hash=nodes[(0, leaf_index)],
        root=hashes[0],
        path=tuple(hashes[1:]),
    )


def consistency_proof(store: NodeReader, size1: int, size2: int) -> ConsistencyProof:
    """Proof that the tree of ``size1`` leaves is a prefix of that of ``size2``, one batch read."""
    _require_size("size1", size1)
    _require_size("size2", size2)
    if size1 > size2:
        raise ValueError(f"size1 ({size1}) is larger than size2 ({size2})")
    ranges = list(_consistency_ranges(size1, size2))
    if size1 > 0:
        ranges.append((0, size1))
    if size2 > 0:
        ranges.append((0, size2))
    hashes, _ = _fetch_ranges(store, ranges)
    root2 = hashes.pop() if size2 > 0 else EMPTY_ROOT
    root1 = hashes.pop() if size1 > 0 else EMPTY_ROOT
    return ConsistencyProof(size1=size1, size2=size2, root1=root1, root2=root2, path=tuple(hashes))


def nodes_for_append(
    store: NodeReader, leaf_index: int, new_leaf_hash: bytes
) -> list[tuple[int, int, bytes]]:
    """The complete nodes ``(level, index, hash)`` that appending leaf ``leaf_index`` creates.

    Leaf ``n`` completes one perfect subtree per trailing 1-bit of ``n``; each needs its left
    half, which was completed earlier, so the reads are one batch of ``O(log n)`` hashes.
    """
    _require_size("leaf_index", leaf_index)
    _require_hash("leaf hash", new_leaf_hash)
    trailing_ones = (~leaf_index & (leaf_index + 1)).bit_length() - 1
    left_halves = [(level - 1, (leaf_index >> level) * 2) for level in range(1, trailing_ones + 1)]
    stored = dict(store.get_nodes(left_halves)) if left_halves else {}
    missing = set(left_halves).difference(stored)
    if missing:
        raise MissingNodesError(missing)
    created = [(0, leaf_index, new_leaf_hash)]
    value = new_leaf_hash
    for level in range(1, trailing_ones + 1):
        value = node_hash(stored[(level - 1, (leaf_index >> level) * 2)], value)
        created.append((level, leaf_index >> level, value))
    return created


class TreeBuilder:
    """Streams leaf hashes and reports each complete node as it is finished.

    Keeps only the right border (one hash per 1-bit of the size), so the root of every prefix
    of a million-leaf log can be recomputed in constant memory; used by the bulk loader of
    the benchmark and by the log auditor.
    """

    def __init__(self) -> None:
        self.size = 0
        self._border: list[tuple[int, bytes]] = []  # (level, hash), levels strictly decreasing

    def push(self, new_leaf_hash: bytes) -> list[tuple[int, int, bytes]]:
        index = self.size
        created = [(0, index, new_leaf_hash)]
        level, value = 0, new_leaf_hash
        while self._border and self._border[-1][0] == level:
            _, left = self._border.pop()
            level += 1
            value = node_hash(left, value)
            created.append((level, index >> level, value))
        self._border.append((level, value))
        self.size += 1
        return created

    def root(self) -> bytes:
        if not self._border:
            return EMPTY_ROOT
        value = self._border[-1][1]
        for _, left in reversed(self._border[:-1]):
            value = node_hash(left, value)
        return value


class MemoryNodeStore:
    """Complete nodes in a dict: the store behind unit tests and offline tooling.

    Counts batches and hashes read so tests can hold generation to one ``O(log n)`` batch.
    """

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self.nodes: dict[NodeKey, bytes] = {}
        self.size = 0
        self.batches = 0
        self.hashes_read = 0
        for value in leaf_hashes:
            self.append(value)

    def get_nodes(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        self.batches += 1
        found = {key: self.nodes[key] for key in keys if key in self.nodes}
        self.hashes_read += len(found)
        return found

    def append(self, new_leaf_hash: bytes) -> int:
        index = self.size
        for level, node_index, value in nodes_for_append(self, index, new_leaf_hash):
            self.nodes[(level, node_index)] = value
        self.size += 1
        return index


# --- verification (RFC 9162) --------------------------------------------------------------------


def verify_inclusion(
    leaf_index: int, tree_size: int, leaf_hash_: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """RFC 9162 §2.1.3.2. Returns None when the proof holds; raises ``ProofError`` otherwise."""
    _require_size("leaf index", leaf_index)
    _require_size("tree size", tree_size)
    leaf = _require_hash("leaf hash", leaf_hash_)
    expected_root = _require_hash("root", root)
    path = [_require_hash(f"proof[{i}]", item) for i, item in enumerate(proof)]
    # 1. The leaf must lie inside the tree.
    if leaf_index >= tree_size:
        raise ProofError(f"leaf index {leaf_index} is not below tree size {tree_size}")
    # 2-3.
    fn, sn = leaf_index, tree_size - 1
    r = leaf
    # 4.
    for p in path:
        if sn == 0:
            raise ProofError("proof is longer than the path from this leaf to the root")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    # 5.
    if sn != 0:
        raise ProofError("proof is shorter than the path from this leaf to the root")
    if r != expected_root:
        raise ProofError("computed root does not match the given root")


def verify_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 §2.1.4.2. Returns None when the proof holds; raises ``ProofError`` otherwise."""
    _require_size("size1", size1)
    _require_size("size2", size2)
    first = _require_hash("root1", root1)
    second = _require_hash("root2", root2)
    path = [_require_hash(f"proof[{i}]", item) for i, item in enumerate(proof)]
    if size1 > size2:
        raise ProofError(f"size1 ({size1}) is larger than size2 ({size2})")
    if size1 == size2:
        # The RFC's proof for equal sizes is empty and the roots must be identical.
        if path:
            raise ProofError("trees of equal size need an empty proof")
        if first != second:
            raise ProofError("trees of equal size have different roots")
        return
    if size1 == 0:
        # Every tree extends the empty tree, whose root is fixed by RFC 6962.
        if path:
            raise ProofError("consistency with the empty tree needs an empty proof")
        if first != EMPTY_ROOT:
            raise ProofError("root1 is not the root of the empty tree")
        return
    # 1.
    if not path:
        raise ProofError("proof is empty")
    # 2. A first tree that is a perfect subtree is itself the first node of the path.
    if size1 & (size1 - 1) == 0:
        path = [first, *path]
    # 3-4.
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5.
    fr = sr = path[0]
    # 6.
    for c in path[1:]:
        if sn == 0:
            raise ProofError("proof is longer than needed")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    # 7.
    if sn != 0:
        raise ProofError("proof is shorter than needed")
    if fr != first:
        raise ProofError("computed root1 does not match the given root1")
    if sr != second:
        raise ProofError("computed root2 does not match the given root2")
