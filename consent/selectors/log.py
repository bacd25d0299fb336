"""The transparency log as readers see it: Merkle proofs, tree heads, entries, published keys.

Proofs are computed from the stored complete nodes (``DatabaseNodeStore``), never from the
leaves, so a proof costs a few indexed lookups whatever the size of the log.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.db import connections

from consent.lib import merkle, signing
from consent.lib.canonical import parse_json
from consent.lib.receipts import LOGGED_RECEIPT_FORMAT
from consent.lib.treehead import tree_head_json
from consent.models import LogEntry, LogState, MerkleNode, PersonKey, SignedTreeHead, SigningKey
from registry.lib.errors import NotFound, ValidationFailed

# --- complete nodes -----------------------------------------------------------------------------


class DatabaseNodeStore:
    """The ``merkle.NodeReader`` over ``MerkleNode``: one indexed query per batch.

    Raw SQL on purpose: joining the primary key against ``unnest`` of two arrays is one
    statement with one plan (a nested loop of primary-key probes) whatever the batch size,
    where ``pk__in`` with row values grows an OR per key.
    """

    def __init__(self, using: str = "default") -> None:
        self.using = using

    def get_nodes(self, keys: Sequence[merkle.NodeKey]) -> dict[merkle.NodeKey, bytes]:
        if not keys:
            return {}
        table = connections[self.using].ops.quote_name(MerkleNode._meta.db_table)
        query = (
            f'SELECT n."level", n."index", n."hash" FROM {table} AS n '  # noqa: S608 (table name is ours)
            'JOIN unnest(%s::smallint[], %s::bigint[]) AS k("level", "index") '
            'ON n."level" = k."level" AND n."index" = k."index"'
        )
        with connections[self.using].cursor() as cursor:
            cursor.execute(query, [[key[0] for key in keys], [key[1] for key in keys]])
            return {(level, index): bytes(value) for level, index, value in cursor.fetchall()}


# --- log state, proofs, heads -------------------------------------------------------------------


def log_size() -> int:
    """Number of committed entries."""
    size = (
        LogState.objects.filter(pk=LogState.SINGLETON_ID)
        .values_list("tree_size", flat=True)
        .first()
    )
    return size or 0


@contextmanager
def _beyond_log_is_not_found(name: str, size: int) -> Iterator[None]:
    """Turn "nodes missing" into a 404 when the caller asked for a tree the log never had.

    Nodes are written in the transaction that commits their entries, so the nodes a reader
    can see are exactly those of the committed log: a tree larger than the log lacks the node
    holding its last leaf. Checking that way saves a query for the log size on every proof.
    """
    try:
        yield
    except merkle.MissingNodesError:
        current = log_size()
        if size > current:
            raise NotFound(
                f"{name} {size} is beyond the log, which has {current} entries.",
                code="beyond_log",
                detail={name: size, "log_size": current},
            ) from None
        raise  # nodes of committed entries are missing: damage for verify_log, not the caller


def inclusion_proof(*, leaf_index: int, tree_size: int) -> merkle.InclusionProof:
    """Proof that entry ``leaf_index`` is in the tree of the first ``tree_size`` entries."""
    if leaf_index < 0 or tree_size < 0:
        raise ValidationFailed("Leaf indexes and tree sizes are non-negative.")
    if leaf_index >= tree_size:
        raise ValidationFailed(
            f"Leaf {leaf_index} is not in a tree of {tree_size} entries.",
            detail={"leaf_index": leaf_index, "tree_size": tree_size},
        )
    with _beyond_log_is_not_found("tree_size", tree_size):
        return merkle.inclusion_proof(DatabaseNodeStore(), leaf_index, tree_size)


def consistency_proof(*, size1: int, size2: int) -> merkle.ConsistencyProof:
    """Proof that the tree of ``size1`` entries is a prefix of the tree of ``size2``."""
    if size1 < 0 or size2 < 0:
        raise ValidationFailed("Tree sizes are non-negative.")
    if size1 > size2:
        raise ValidationFailed(
            "The first tree size must not be larger than the second.",
            detail={"first": size1, "second": size2},
        )
    with _beyond_log_is_not_found("second", size2):
        return merkle.consistency_proof(DatabaseNodeStore(), size1, size2)


def latest_tree_head() -> SignedTreeHead | None:
    return SignedTreeHead.objects.order_by("-tree_size").first()


def tree_head_description(head: SignedTreeHead) -> dict[str, Any]:
    """A stored head as published (``consent.lib.treehead.tree_head_json``): everything a client
    needs to check it against ``keys.json``."""
    return tree_head_json(
        tree_size=head.tree_size,
        root_hash=bytes(head.root_hash),
        timestamp_ms=head.timestamp_ms,
        kid=head.kid,
        signature=bytes(head.signature),
    )


def log_entry_get(*, index: int) -> LogEntry:
    entry = LogEntry.objects.filter(index=index).first()
    if entry is None:
        raise NotFound(f"There is no log entry {index}.", detail={"index": index})
    return entry


def log_entry_with_proof(*, index: int) -> tuple[LogEntry, SignedTreeHead, merkle.InclusionProof]:
    """An entry, the latest signed tree head and the entry's inclusion proof against it."""
    entry = log_entry_get(index=index)
    head = latest_tree_head()
    if head is None or head.tree_size <= index:
        # Appends sign a head in the same transaction, so this only happens while a head is
        # missing (e.g. a log loaded in bulk); a client can retry once one is signed.
        raise NotFound(
            f"Log entry {index} is not yet covered by a signed tree head.",
            code="not_yet_signed",
            detail={"index": index, "tree_size": head.tree_size if head else 0},
        )
    proof = merkle.inclusion_proof(DatabaseNodeStore(), index, head.tree_size)
    return entry, head, proof


# --- published keys -----------------------------------------------------------------------------


def signing_key_description(key: SigningKey) -> dict[str, Any]:
    return signing.public_key_to_jwk(
        bytes(key.public_key),
        status=key.status,
        created_at=key.created_at,
        retired_at=key.retired_at,
    )


def published_keys() -> list[dict[str, Any]]:
    """Every registry signing key, current and retired, oldest first (never private parts)."""
    return [
        signing_key_description(key)
        for key in SigningKey.objects.order_by("created_at", "id").only(
            "kid", "public_key", "status", "created_at", "retired_at"
        )
    ]


def cosigner_published_keys(kids: set[str]) -> list[dict[str, Any]]:
    """Published-key descriptions of people's registered keys among ``kids``.

    Revoked keys are included: a key revoked today still made yesterday's signatures. A key
    erased with its person is simply not found, and its co-signatures go unchecked.
    """
    return [
        signing.public_key_to_jwk(
            bytes(key.public_key),
            status="retired" if key.revoked_at else "current",
            created_at=key.created_at,
            retired_at=key.revoked_at,
        )
        for key in PersonKey.objects.filter(kid__in=sorted(kids)).only(
            "kid", "public_key", "created_at", "revoked_at"
        )
    ]


def logged_receipt(*, entry: LogEntry, related: Sequence[LogEntry] = ()) -> dict[str, Any]:
    """A logged receipt: the envelope, the signed tree head just after it, and inclusion proofs.

    ``related`` entries (the grant or opt-out that decided a check) are proven against the
    same head, so the receipt alone shows that decision was in the log too.
    """
    tree_size = entry.index + 1
    head = SignedTreeHead.objects.get(tree_size=tree_size)
    store = DatabaseNodeStore()

    def proven(item: LogEntry) -> dict[str, Any]:
        proof = merkle.inclusion_proof(store, item.index, tree_size)
        return {
            "leaf_index": item.index,
            "envelope": parse_json(bytes(item.record)),
            "inclusion_proof": proof.to_json(),
        }

    return {
        "format": LOGGED_RECEIPT_FORMAT,
        **proven(entry),
        "tree_head": tree_head_description(head),
        "related": [proven(item) for item in related],
    }
