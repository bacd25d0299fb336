"""Every non-trivial read of the consent app.

Log part: Merkle proofs from stored complete nodes, tree heads, published keys, and the
auditor behind ``manage.py verify_log``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any

from django.conf import settings
from django.db import connections, transaction
from django.db.models import Q, QuerySet
from django.utils.module_loading import import_string

from consent.lib import merkle, signing
from consent.lib.canonical import CanonicalJSONError, canonical_json, parse_json
from consent.lib.treehead import verify_tree_head
from consent.lib.uses import ALL_USES, WORLDWIDE
from consent.models import (
    ConsentCheck,
    ConsentRequest,
    LogEntry,
    LogState,
    MerkleNode,
    PersonKey,
    Record,
    RecordKind,
    SignedTreeHead,
    SigningKey,
    WebhookDelivery,
    WebhookEndpoint,
)
from registry.lib.errors import NotFound, ValidationFailed
from registry.models import Organisation, Person

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
    """A head as published: everything a client needs to check it against ``keys.json``."""
    return {
        "tree_size": head.tree_size,
        "root_hash": signing.b64encode(bytes(head.root_hash)),
        "timestamp": head.timestamp_ms,
        "kid": head.kid,
        "signature": signing.b64encode(bytes(head.signature)),
    }


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


# --- audit --------------------------------------------------------------------------------------

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


# =================================================================================================
# Records and decisions (records engineer)
# =================================================================================================


@dataclass(frozen=True)
class OptOutScope:
    record_id: str
    categories: list[str]
    created_at: datetime


@dataclass(frozen=True)
class GrantSummary:
    record_id: str
    organisation_id: int
    categories: list[str]
    media_types: list[str]
    territory: str
    valid_from: datetime | None
    valid_until: datetime | None
    created_at: datetime


def _active_optouts() -> QuerySet[Record]:
    return Record.objects.filter(kind=RecordKind.OPTOUT, revoked_at__isnull=True)


def _covers_category(category: str) -> Q:
    # Both tests are jsonb @> and use record_optout_categories_idx.
    return Q(categories__contains=[category]) | Q(categories__contains=[ALL_USES])


def optout_person_ids(*, category: str) -> QuerySet:
    """Ids of people with an active opt-out covering ``category`` (an all-uses one covers all).

    A lazy ``values_list`` meant to be used as a subquery (``person_id__in=...``); it reads
    only the partial indexes over active opt-outs.
    """
    return (
        _active_optouts()
        .filter(_covers_category(category), person__isnull=False)
        .values_list("person_id", flat=True)
    )


def person_has_active_optout(*, person_id: int) -> bool:
    """Whether the person has any active opt-out (of any category): checks search them."""
    return _active_optouts().filter(person_id=person_id).exists()


def optouts_covering(*, person_ids: Sequence[int], category: str) -> dict[int, OptOutScope]:
    """For each of ``person_ids`` with an active opt-out covering ``category``, the oldest one."""
    found: dict[int, OptOutScope] = {}
    rows = (
        _active_optouts()
        .filter(_covers_category(category), person_id__in=list(person_ids))
        .order_by("person_id", "created_at", "id")
        .values_list("person_id", "record_id", "categories", "created_at")
    )
    for person_id, record_id, categories, created_at in rows:
        found.setdefault(
            person_id,
            OptOutScope(record_id=record_id, categories=list(categories), created_at=created_at),
        )
    return found


def _grant_matches(
    grant: Record, *, category: str, media_type: str | None, territory: str | None
) -> bool:
    if category not in grant.categories:
        return False
    if media_type is not None and media_type not in grant.media_types:
        return False
    return territory is None or grant.territory in (WORLDWIDE, territory)


def _in_window(grant: Record, at: datetime) -> bool:
    # Without an explicit start, consent starts when it was given, never retroactively.
    if at < (grant.valid_from or grant.created_at):
        return False
    return grant.valid_until is None or at < grant.valid_until


def _grant_summary(grant: Record) -> GrantSummary:
    return GrantSummary(
        record_id=grant.record_id,
        organisation_id=grant.organisation_id,
        categories=list(grant.categories),
        media_types=list(grant.media_types),
        territory=grant.territory,
        valid_from=grant.valid_from,
        valid_until=grant.valid_until,
        created_at=grant.created_at,
    )


@dataclass(frozen=True)
class ConsentDecision:
    result: str  # a ConsentCheck.Result value
    record: Record | None  # the grant or opt-out that decides it


def consent_decision(
    *,
    person_id: int,
    organisation_id: int,
    category: str,
    media_type: str | None,
    territory: str | None,
    at: datetime,
    lock: bool = False,
) -> ConsentDecision:
    """Whether ``organisation`` may make synthetic media of the person for this use at ``at``.

    Rules, in order: a valid (unrevoked, in its window) grant covering the use is consent,
    unless an active opt-out covering the category was recorded after it (the later decision
    wins); otherwise such an opt-out means opted_out; otherwise the newest covering grant
    that was revoked or has expired explains the refusal; otherwise not_consented.

    With ``lock`` (inside a transaction) the deciding rows are locked, so a concurrent
    revocation waits for this check to commit, or this check waits for it and sees it.
    """
    candidates = Record.objects.filter(person_id=person_id).filter(
        _deciding_records(organisation_id=organisation_id, category=category)
    )
    if lock:
        # Row locks in primary-key order, the same order every locker uses: no deadlocks.
        candidates = candidates.select_for_update(no_key=True).order_by("id")
    return _decide(
        list(candidates), category=category, media_type=media_type, territory=territory, at=at
    )


@dataclass(frozen=True)
class PersonConsent:
    """What a media check needs to know of one matched person, for one use category."""

    optout: OptOutScope | None  # the oldest active opt-out covering the category
    decision: ConsentDecision  # for the checking organisation (never consented without one)


def people_consent(
    *,
    person_ids: Sequence[int],
    organisation_id: int | None,
    category: str,
    media_type: str | None,
    territory: str | None,
    at: datetime,
) -> dict[int, PersonConsent]:
    """``optouts_covering`` and ``consent_decision`` for several people, from one read."""
    if not person_ids:
        return {}
    rows: dict[int, list[Record]] = {person_id: [] for person_id in person_ids}
    for record in Record.objects.filter(person_id__in=list(person_ids)).filter(
        _deciding_records(organisation_id=organisation_id, category=category)
    ):
        rows[record.person_id].append(record)
    found = {}
    for person_id, records in rows.items():
        oldest = min(
            (row for row in records if row.kind == RecordKind.OPTOUT),
            key=lambda row: (row.created_at, row.id),
            default=None,
        )
        optout = (
            None
            if oldest is None
            else OptOutScope(
                record_id=oldest.record_id,
                categories=list(oldest.categories),
                created_at=oldest.created_at,
            )
        )
        found[person_id] = PersonConsent(
            optout=optout,
            decision=_decide(
                records, category=category, media_type=media_type, territory=territory, at=at
            ),
        )
    return found


def _deciding_records(*, organisation_id: int | None, category: str) -> Q:
    """The records that can decide a use: the organisation's grants for the category and the
    active opt-outs covering it."""
    optouts = Q(kind=RecordKind.OPTOUT, revoked_at__isnull=True) & _covers_category(category)
    if organisation_id is None:
        return optouts
    grants = Q(
        kind=RecordKind.GRANT, organisation_id=organisation_id, categories__contains=[category]
    )
    return grants | optouts


def _decide(
    rows: list[Record],
    *,
    category: str,
    media_type: str | None,
    territory: str | None,
    at: datetime,
) -> ConsentDecision:
    """The rules of ``consent_decision`` applied to one person's deciding records."""
    grants = sorted(
        (
            row
            for row in rows
            if row.kind == RecordKind.GRANT
            and _grant_matches(row, category=category, media_type=media_type, territory=territory)
        ),
        key=lambda row: (row.created_at, row.id),
        reverse=True,
    )
    optouts = sorted(
        (row for row in rows if row.kind == RecordKind.OPTOUT and row.revoked_at is None),
        key=lambda row: (row.created_at, row.id),
        reverse=True,
    )
    latest_optout = optouts[0] if optouts else None
    valid = [grant for grant in grants if grant.revoked_at is None and _in_window(grant, at)]
    if valid:
        grant = valid[0]
        if latest_optout is not None and latest_optout.created_at > grant.created_at:
            return ConsentDecision(ConsentCheck.Result.OPTED_OUT, latest_optout)
        return ConsentDecision(ConsentCheck.Result.CONSENTED, grant)
    if latest_optout is not None:
        return ConsentDecision(ConsentCheck.Result.OPTED_OUT, latest_optout)
    for grant in grants:
        if grant.revoked_at is not None:
            return ConsentDecision(ConsentCheck.Result.REVOKED, grant)
        if grant.valid_until is not None and grant.valid_until <= at:
            return ConsentDecision(ConsentCheck.Result.EXPIRED, grant)
    return ConsentDecision(ConsentCheck.Result.NOT_CONSENTED, None)


def grant_covering(
    *,
    person_id: int,
    organisation_id: int,
    category: str,
    media_type: str | None,
    territory: str | None,
    at: datetime,
) -> GrantSummary | None:
    """The newest unrevoked grant from the person to the organisation covering this use at ``at``.

    Only the grant itself: opt-outs are not weighed here (see ``consent_decision``).
    """
    grants = Record.objects.filter(
        kind=RecordKind.GRANT,
        person_id=person_id,
        organisation_id=organisation_id,
        revoked_at__isnull=True,
        categories__contains=[category],
    ).order_by("-created_at", "-id")
    for grant in grants:
        if _grant_matches(
            grant, category=category, media_type=media_type, territory=territory
        ) and _in_window(grant, at):
            return _grant_summary(grant)
    return None


def record_get(*, record_id: str) -> Record:
    record = (
        Record.objects.select_related("log_entry", "organisation", "revokes", "person")
        .filter(record_id=record_id)
        .first()
    )
    if record is None:
        raise NotFound("No such record.", detail={"record_id": record_id})
    return record


def record_envelope(record: Record) -> dict[str, Any]:
    return parse_json(bytes(record.log_entry.record))


def record_with_proof(*, record: Record) -> dict[str, Any]:
    """A record's signed envelope with its inclusion proof against the latest tree head."""
    entry, head, proof = log_entry_with_proof(index=record.log_entry.index)
    return {
        "record_id": record.record_id,
        "leaf_index": entry.index,
        "envelope": parse_json(bytes(entry.record)),
        "tree_head": tree_head_description(head),
        "inclusion_proof": proof.to_json(),
    }


def person_records(*, person: Person) -> QuerySet[Record]:
    return (
        Record.objects.filter(person=person)
        .select_related("organisation", "revokes", "log_entry")
        .order_by("-created_at", "-id")
    )


def person_optouts(*, person: Person) -> QuerySet[Record]:
    return person_records(person=person).filter(kind=RecordKind.OPTOUT)


def person_grants(*, person: Person) -> QuerySet[Record]:
    return person_records(person=person).filter(kind=RecordKind.GRANT)


def requests_waiting(*, person: Person) -> QuerySet[ConsentRequest]:
    """Pending requests addressed to the person, by account or to their verified email."""
    addressed = Q(person=person)
    user = person.user
    if user is not None and user.email_verified_at is not None:
        addressed |= Q(person__isnull=True, invite_email__iexact=user.email)
    return (
        ConsentRequest.objects.filter(addressed, status=ConsentRequest.Status.PENDING)
        .select_related("organisation")
        .order_by("-created_at", "-id")
    )


def request_for_person(*, person: Person, request_id: str) -> ConsentRequest:
    found = requests_waiting(person=person).filter(request_id=request_id).first()
    if found is None:
        found = (
            ConsentRequest.objects.filter(person=person, request_id=request_id)
            .select_related("organisation", "grant")
            .first()
        )
    if found is None:
        raise NotFound("No such consent request.", detail={"request_id": request_id})
    return found


def organisation_requests(*, organisation: Organisation) -> QuerySet[ConsentRequest]:
    return (
        ConsentRequest.objects.filter(organisation=organisation)
        .select_related("grant", "person")
        .order_by("-created_at", "-id")
    )


def organisation_grants(*, organisation: Organisation) -> QuerySet[Record]:
    return (
        Record.objects.filter(kind=RecordKind.GRANT, organisation=organisation)
        .select_related("person")
        .order_by("-created_at", "-id")
    )


def person_checks(*, person: Person) -> QuerySet[ConsentCheck]:
    return (
        ConsentCheck.objects.filter(person=person)
        .select_related("organisation", "decided_by")
        .order_by("-created_at", "-id")
    )


def person_find(*, person: str) -> Person:
    """A person by public id (``sub_...``) or public handle."""
    query = Q(public_id=person) if person.startswith("sub_") else Q(handle=person)
    found = Person.objects.filter(query, suspended_at__isnull=True).select_related("user").first()
    if found is None:
        raise NotFound("No such person in the registry.", code="unknown_person")
    return found


def organisation_endpoints(*, organisation: Organisation) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(organisation=organisation, disabled_at__isnull=True)


def endpoint_deliveries(*, endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    return endpoint.deliveries.order_by("-created_at", "-id")


def person_export(*, person: Person) -> dict[str, Any]:
    """The person's consent data for their export (called by ``registry.services``)."""
    return {
        "records": [
            {
                "record_id": record.record_id,
                "kind": record.kind,
                "created_at": record.created_at.isoformat(),
                "revoked_at": record.revoked_at.isoformat() if record.revoked_at else None,
                "organisation": record.organisation.slug if record.organisation else None,
                "categories": record.categories,
                "media_types": record.media_types,
                "territory": record.territory,
                "purpose": record.purpose,
                "project_ref": record.project_ref,
                "revokes": record.revokes.record_id if record.revokes else None,
                "log_index": record.log_entry.index,
            }
            for record in person_records(person=person)
        ],
        "requests": [
            {
                "request_id": request.request_id,
                "organisation": request.organisation.slug,
                "status": request.status,
                "purpose": request.purpose,
                "created_at": request.created_at.isoformat(),
            }
            for request in ConsentRequest.objects.filter(person=person).select_related(
                "organisation"
            )
        ],
        "checks": [
            {
                "check_id": check.check_id,
                "organisation": check.organisation.slug,
                "category": check.category,
                "result": check.result,
                "created_at": check.created_at.isoformat(),
            }
            for check in person_checks(person=person)
        ],
    }
