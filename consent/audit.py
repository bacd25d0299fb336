"""The whole-log auditor behind ``manage.py verify_log``.

``log_audit`` recomputes the transparency log from the stored record bytes alone and reports
every place where the stored leaves, complete nodes, signatures or signed tree heads disagree
with what those bytes imply, naming root causes (a deleted, moved or edited record) before
their consequences (every node and head above it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from django.conf import settings
from django.db import connections, transaction
from django.utils.module_loading import import_string

from consent.lib import merkle, signing
from consent.lib.canonical import CanonicalJSONError, canonical_json, parse_json
from consent.lib.treehead import verify_tree_head
from consent.models import LogEntry, MerkleNode, SignedTreeHead
from consent.selectors.log import (
    DatabaseNodeStore,
    cosigner_published_keys,
    log_size,
    published_keys,
    tree_head_description,
)

# One line per problem, but a single deleted or moved record changes every tree head and
# inner node after it: past this many lines per kind of problem the auditor only counts.
_MAX_LINES_PER_KIND = 25
_CHUNK = 5_000
# Bounds the work a tampered index (say 10**12) can make the auditor do to stay aligned.
_MAX_GAP_TO_REBUILD = 10_000_000


# Root causes first, their consequences (heads and inner nodes above a bad leaf) after.
_KIND_ORDER = [
    "deleted entry",
    "reordered entry",
    "replaced entry",
    "edited entry",
    "unreadable entry",
    "bad signature",
    "entry beyond log",
    "forged tree head",
    "tree head root mismatch",
    "tree head out of order",
    "unverifiable tree head",
    "missing node",
    "node mismatch",
    "extra nodes",
]


class _Report:
    """Problems grouped by kind; bounded, so a wrecked log cannot exhaust memory."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.lines: dict[str, list[str]] = {}

    def add(self, kind: str, line: str) -> None:
        count = self.counts[kind] = self.counts.get(kind, 0) + 1
        if count <= _MAX_LINES_PER_KIND:
            self.lines.setdefault(kind, []).append(line)

    def render(self) -> Iterator[str]:
        for kind in sorted(self.lines, key=_KIND_ORDER.index):
            yield from self.lines[kind]
            if self.counts[kind] > _MAX_LINES_PER_KIND:
                hidden = self.counts[kind] - _MAX_LINES_PER_KIND
                yield f"... and {hidden} more problems of kind: {kind}"


def _cosigner_key_resolver() -> Callable[[set[str]], Iterable[Mapping[str, Any]]]:
    """Co-signers' keys live outside the log; settings may point at another lookup."""
    path = getattr(settings, "CONSENT_COSIGNER_KEY_RESOLVER", None)
    return import_string(path) if path else cosigner_published_keys


def _hex(value: bytes) -> str:
    return value.hex()[:16] + "…"


@dataclass
class LogAudit:
    """What ``log_audit`` found: ``problems`` is empty exactly when the log is sound."""

    entries: int = 0
    problems: list[str] = field(default_factory=list)
    # Co-signatures (people's own) whose key is no longer on file, e.g. after erasure. They
    # cannot be checked, but they are not damage: the registry's signature and the tree
    # still cover every byte of the record.
    unchecked_cosignatures: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def __iter__(self) -> Iterator[str]:
        return iter(self.problems)


def log_audit() -> LogAudit:
    """Recompute the whole log from the stored record bytes and report every inconsistency.

    Checks, against what the records themselves imply: every index from 0 to the log size is
    present (a gap is a deleted record); each stored leaf hash; that each record is canonical
    JSON whose envelope verifies (the registry's signature always, people's co-signatures
    when their key is on file, see ``cosigner_published_keys``); every stored complete node,
    so a record moved to another index is named as such; and every signed tree head
    (signature, root at its size, timestamps in order). Runs in one repeatable-read snapshot
    so concurrent appends cannot look like damage. Problems are grouped by kind, root causes
    first, at most ``_MAX_LINES_PER_KIND`` lines per kind.
    """
    connection = connections["default"]
    audit = LogAudit()
    with transaction.atomic():
        if connection.in_atomic_block and not connection.savepoint_ids:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        audit.problems = list(_log_audit_in_snapshot(audit))
    return audit


def _log_audit_in_snapshot(audit: LogAudit) -> Iterator[str]:
    report = _Report()
    size = audit.entries = log_size()
    keys = published_keys()
    registry_kids = [key["kid"] for key in keys]
    cosigners = _Cosigners(_cosigner_key_resolver(), registry_kids)
    store = DatabaseNodeStore()

    heads = (
        SignedTreeHead.objects.order_by("tree_size")
        .values_list("tree_size", "root_hash", "timestamp", "kid", "signature")
        .iterator(chunk_size=_CHUNK)
    )
    next_head = next(heads, None)
    previous_timestamp = None

    def check_heads_at(tree_size: int, root: bytes) -> None:
        nonlocal next_head, previous_timestamp
        while next_head is not None and next_head[0] == tree_size:
            head = SignedTreeHead(
                tree_size=next_head[0],
                root_hash=bytes(next_head[1]),
                timestamp=next_head[2],
                kid=next_head[3],
                signature=bytes(next_head[4]),
            )
            ok, reason = verify_tree_head(tree_head_description(head), keys)
            if not ok:
                report.add("forged tree head", f"tree head at size {tree_size}: {reason}")
            if head.root_hash != root:
                report.add(
                    "tree head root mismatch",
                    f"tree head at size {tree_size}: root {_hex(head.root_hash)} is not the "
                    f"root of entries 0..{tree_size - 1} ({_hex(root)})",
                )
            if previous_timestamp is not None and head.timestamp < previous_timestamp:
                report.add(
                    "tree head out of order",
                    f"tree head at size {tree_size}: timestamp is earlier than the previous head's",
                )
            previous_timestamp = head.timestamp
            next_head = next(heads, None)

    builder = merkle.TreeBuilder()
    check_heads_at(0, merkle.EMPTY_ROOT)
    # To name moved records: where a recomputed leaf sits now, and stored leaves that differ.
    found_at: dict[bytes, int] = {}
    misplaced: list[tuple[int, bytes]] = []

    entries = (
        LogEntry.objects.filter(index__lt=size)
        .order_by("index")
        .values_list("index", "leaf_hash", "record")
        .iterator(chunk_size=_CHUNK)
    )
    for chunk in iter(lambda: list(islice(entries, _CHUNK)), []):
        emitted: dict[merkle.NodeKey, bytes] = {}
        first_index, last_index = builder.size, chunk[-1][0]
        gaps = last_index - first_index + 1 != len(chunk)
        # Only when entries are missing: their stored leaf nodes keep later positions aligned,
        # so one deletion is reported once instead of at every later node and head.
        stored_leaves = (
            store.get_nodes([(0, i) for i in range(first_index, last_index + 1)]) if gaps else {}
        )
        recomputed: dict[int, bytes] = {}
        for index, stored_leaf_hash, record in chunk:
            if builder.size < index:
                report.add("deleted entry", _missing_range(builder.size, index))
                if index - builder.size > _MAX_GAP_TO_REBUILD:
                    report.add(
                        "deleted entry",
                        "the gap is too large to rebuild the tree across; stopping the audit",
                    )
                    yield from report.render()
                    return
            while builder.size < index:
                filler = stored_leaves.get((0, builder.size), bytes(merkle.HASH_SIZE))
                for level, node_index, value in builder.push(filler):
                    if level:
                        emitted[(level, node_index)] = value
                check_heads_at(builder.size, builder.root())
            record = bytes(record)
            leaf = recomputed[index] = merkle.leaf_hash(record)
            if bytes(stored_leaf_hash) != leaf:
                report.add(
                    "edited entry",
                    f"entry {index}: the record bytes do not match the stored leaf hash "
                    "(record edited?)",
                )
            _audit_envelope(index, record, keys, registry_kids, cosigners, report)
            for level, node_index, value in builder.push(leaf):
                emitted[(level, node_index)] = value
            check_heads_at(builder.size, builder.root())
        _audit_nodes(store, emitted, recomputed, found_at, misplaced, report)

    if builder.size < size:
        report.add("deleted entry", _missing_range(builder.size, size))
    for index, stored in misplaced:
        origin = found_at.get(stored)
        if origin is not None and origin != index:
            report.add(
                "reordered entry",
                f"entry {origin} holds the record committed at index {index} (records reordered)",
            )
        else:
            report.add(
                "replaced entry",
                f"entry {index}: the Merkle tree committed a different record at this index "
                "(record replaced?)",
            )
    while next_head is not None:
        report.add(
            "unverifiable tree head",
            f"tree head at size {next_head[0]} cannot be checked: the log has "
            f"{builder.size} of its entries",
        )
        next_head = next(heads, None)

    beyond = LogEntry.objects.filter(index__gte=size).count()
    if beyond:
        report.add(
            "entry beyond log",
            f"{beyond} entries lie beyond the log size {size} (inserted behind the log?)",
        )
    expected_nodes = 2 * size - size.bit_count()
    stored_nodes = MerkleNode.objects.count()
    if stored_nodes > expected_nodes:
        report.add(
            "extra nodes",
            f"{stored_nodes - expected_nodes} more Merkle nodes are stored than a log of {size} "
            "entries has",
        )
    audit.unchecked_cosignatures = cosigners.unchecked
    yield from report.render()


def _missing_range(first: int, end: int) -> str:
    if end - first == 1:
        return f"entry {first} is missing (deleted?)"
    return f"entries {first}..{end - 1} are missing (deleted?)"


class _Cosigners:
    """Looks co-signers' keys up once each, remembering the ones no longer on file."""

    def __init__(
        self, resolver: Callable[[set[str]], Iterable[Mapping[str, Any]]], registry_kids: list[str]
    ) -> None:
        self.resolver = resolver
        self.registry_kids = set(registry_kids)
        self.found: dict[str, Mapping[str, Any]] = {}
        self.off_file: set[str] = set()
        self.unchecked = 0

    def split(self, signatures: list[Any]) -> tuple[list[Any], list[Mapping[str, Any]]]:
        """The signatures to check and the keys to check them with."""
        kids = {
            entry["kid"]
            for entry in signatures
            if isinstance(entry, dict) and isinstance(entry.get("kid"), str)
        }
        lookup = kids - self.registry_kids - set(self.found) - self.off_file
        if lookup:
            for key in self.resolver(lookup):
                if key.get("kid") in lookup:
                    self.found[key["kid"]] = key
            self.off_file |= lookup - set(self.found)
        checkable = [
            entry
            for entry in signatures
            if not (isinstance(entry, dict) and entry.get("kid") in self.off_file)
        ]
        if not checkable:
            # Nothing but unknown signers: check it whole, so the failure names them.
            return signatures, []
        self.unchecked += len(signatures) - len(checkable)
        return checkable, [self.found[kid] for kid in kids if kid in self.found]


def _audit_envelope(
    index: int,
    record: bytes,
    keys: list[dict[str, Any]],
    registry_kids: list[str],
    cosigners: _Cosigners,
    report: _Report,
) -> None:
    try:
        envelope = parse_json(record)
        canonical = canonical_json(envelope) == record
    except CanonicalJSONError as error:
        report.add("unreadable entry", f"entry {index}: the record is not valid JSON ({error})")
        return
    if not canonical:
        report.add("edited entry", f"entry {index}: the record is not canonical JSON (edited?)")
    extra_keys: list[Mapping[str, Any]] = []
    if isinstance(envelope, dict) and isinstance(envelope.get("signatures"), list):
        checkable, extra_keys = cosigners.split(envelope["signatures"])
        envelope = {**envelope, "signatures": checkable}
    ok, reason = signing.verify_envelope(
        envelope, [*keys, *extra_keys], require_signers_from=[registry_kids]
    )
    if not ok:
        report.add("bad signature", f"entry {index}: {reason}")


def _audit_nodes(
    store: DatabaseNodeStore,
    emitted: dict[merkle.NodeKey, bytes],
    recomputed_leaves: dict[int, bytes],
    found_at: dict[bytes, int],
    misplaced: list[tuple[int, bytes]],
    report: _Report,
) -> None:
    """Compare the complete nodes recomputed from records with the stored ones."""
    stored = store.get_nodes(sorted(emitted))
    for key in sorted(emitted):
        level, index = key
        value = stored.get(key)
        if value is None:
            report.add("missing node", f"Merkle node (level {level}, index {index}) is missing")
        elif value != emitted[key] and level == 0:
            # Resolved after the scan, when we know where this leaf's record went.
            misplaced.append((index, value))
            if index in recomputed_leaves:
                found_at[recomputed_leaves[index]] = index
        elif value != emitted[key]:
            report.add(
                "node mismatch",
                f"Merkle node (level {level}, index {index}) does not match the records below it",
            )
