"""The transparency log's writes: signing keys, signed tree heads, appends, subject commitments.

Appends, head signing and key rotation all lock the single ``LogState`` row first, so they are
serialised across processes in one order: the log lock, then the signing key. Callers that also
lock decision rows (``consent.services.records``) take those first, then the log.

Every other part of ``consent.services`` builds on ``log_append`` and ``signing_key_current``;
this module imports none of them.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from consent.lib import merkle, signing
from consent.lib.canonical import canonical_json
from consent.lib.dates import whole_ms
from consent.lib.sealing import seal, unseal
from consent.lib.treehead import looks_like_tree_head, tree_head_signed_bytes
from consent.models import LogEntry, LogState, MerkleNode, SignedTreeHead, SigningKey
from consent.selectors import DatabaseNodeStore
from registry.db import model_from_row
from registry.lib.errors import PayloadTooLarge, ValidationFailed
from registry.models import Person

# A record is a decision, not a document: anything bigger is a bug or an abuse of the log.
MAX_RECORD_BYTES = 64 * 1024


# --- signing keys -------------------------------------------------------------------------------


def _key_encryption_key() -> bytes:
    kek = getattr(settings, "REGISTRY_KEK", None)
    if not isinstance(kek, bytes) or len(kek) != 32:
        raise RuntimeError("settings.REGISTRY_KEK must be 32 bytes")
    return kek


def _private_key(key: SigningKey) -> Ed25519PrivateKey:
    raw = unseal(
        _key_encryption_key(), bytes(key.private_key_sealed), associated_data=key.kid.encode()
    )
    private_key = signing.private_key_from_bytes(raw)
    if signing.key_id(private_key) != key.kid:
        # The sealed key and the published one disagree: never sign with it.
        raise RuntimeError(f"signing key {key.kid} does not match its sealed private key")
    return private_key


def _lock_log() -> LogState:
    """Lock the log's state row (creating it on first use); call inside a transaction."""
    state = LogState.objects.select_for_update().filter(pk=LogState.SINGLETON_ID).first()
    if state is None:
        # ON CONFLICT DO NOTHING: two processes may race to create the row; both then lock it.
        LogState.objects.bulk_create([LogState(pk=LogState.SINGLETON_ID)], ignore_conflicts=True)
        state = LogState.objects.select_for_update().get(pk=LogState.SINGLETON_ID)
    return state


def _signing_key_create(*, created_at) -> SigningKey:
    private_key = signing.generate_private_key()
    kid = signing.key_id(private_key)
    return SigningKey.objects.create(
        kid=kid,
        public_key=signing.public_key_to_bytes(private_key),
        private_key_sealed=seal(
            _key_encryption_key(),
            signing.private_key_to_bytes(private_key),
            associated_data=kid.encode(),
        ),
        status=SigningKey.Status.CURRENT,
        created_at=created_at,
    )


_SIGNING_KEY_FIELDS = SigningKey._meta.concrete_fields
_CURRENT_KEY_SQL = "SELECT {columns} FROM {table} WHERE status = %s".format(  # noqa: S608 - ours
    columns=", ".join(field.column for field in _SIGNING_KEY_FIELDS),
    table=SigningKey._meta.db_table,
)


def _signing_key_read_current() -> SigningKey | None:
    # Read afresh for every signature (so a rotation counts from the next one in every process),
    # in plain SQL: it runs for every platform check, and compiling the ORM query cost four times
    # as much CPU as running it. At most one row: a partial unique index allows one current key.
    with connection.cursor() as cursor:
        cursor.execute(_CURRENT_KEY_SQL, [SigningKey.Status.CURRENT.value])
        row = cursor.fetchone()
    if row is None:
        return None
    return model_from_row(SigningKey, _SIGNING_KEY_FIELDS, row)


def signing_key_current() -> SigningKey:
    """The key the registry signs with now, created on first use."""
    key = _signing_key_read_current()
    if key is not None:
        return key
    with transaction.atomic():
        _lock_log()
        key = _signing_key_read_current()
        if key is None:
            key = _signing_key_create(created_at=timezone.now())
    return key


def signing_key_rotate() -> tuple[SigningKey, SigningKey | None]:
    """Retire the current key and start signing with a new one; returns ``(new, retired)``.

    The retired key stays published (``keys.json``) so everything it signed still verifies.
    """
    with transaction.atomic():
        _lock_log()
        now = timezone.now()
        retired = (
            SigningKey.objects.select_for_update().filter(status=SigningKey.Status.CURRENT).first()
        )
        if retired is not None:
            retired.status = SigningKey.Status.RETIRED
            retired.retired_at = now
            retired.save(update_fields=["status", "retired_at"])
        new = _signing_key_create(created_at=now)
    return new, retired


# --- tree heads ---------------------------------------------------------------------------------


def _tree_head_sign_locked(*, tree_size: int) -> SignedTreeHead:
    existing = SignedTreeHead.objects.filter(tree_size=tree_size).first()
    if existing is not None:
        return existing
    root_hash = merkle.tree_root(DatabaseNodeStore(), tree_size)
    # Whole milliseconds, so the stored timestamp reproduces the signed one exactly.
    timestamp = whole_ms(timezone.now())
    latest = SignedTreeHead.objects.order_by("-tree_size").first()
    if latest is not None and timestamp < latest.timestamp:
        # Heads are ordered by size; their timestamps must not run backwards even if this
        # host's clock is behind the one that signed the previous head.
        timestamp = latest.timestamp
    head = SignedTreeHead(tree_size=tree_size, root_hash=root_hash, timestamp=timestamp)
    key = signing_key_current()
    body = tree_head_signed_bytes(
        tree_size=tree_size, root_hash=root_hash, timestamp_ms=head.timestamp_ms
    )
    head.kid = key.kid
    head.signature = signing.sign(_private_key(key), body)
    head.save()
    return head


def tree_head_sign() -> SignedTreeHead:
    """Sign the root of the log at its current size (returns the existing head if any)."""
    with transaction.atomic():
        state = _lock_log()
        return _tree_head_sign_locked(tree_size=state.tree_size)


# --- appending ----------------------------------------------------------------------------------


def _checked_cosignatures(
    payload: Mapping[str, Any],
    cosignatures: Sequence[Mapping[str, str]],
    cosigner_keys: Sequence[Mapping[str, Any]],
) -> list[dict[str, str]]:
    """Verify signatures made by others (the person a record is about) before logging them."""
    if not cosignatures:
        return []
    entries = [{"kid": entry.get("kid"), "sig": entry.get("sig")} for entry in cosignatures]
    ok, reason = signing.verify_envelope(
        {"payload": dict(payload), "signatures": entries},
        cosigner_keys,
        require_signers_from=[[entry["kid"]] for entry in entries],
    )
    if not ok:
        raise ValidationFailed(
            f"A co-signature does not verify: {reason}",
            code="invalid_signature",
            detail={"reason": reason},
        )
    return entries


def log_append(
    *,
    payload: Mapping[str, Any],
    cosignatures: Sequence[Mapping[str, str]] = (),
    cosigner_keys: Sequence[Mapping[str, Any]] = (),
) -> LogEntry:
    """Sign ``payload`` as the registry and append it to the log; returns the new entry.

    ``cosignatures`` are ``{"kid", "sig"}`` signatures others made over the canonical payload
    (e.g. the person's own key on a consent they signed); each must verify against
    ``cosigner_keys`` (published-key dicts) or nothing is appended. The stored record is the
    canonical envelope ``{"payload", "signatures": [registry, *cosignatures]}``.

    A new signed tree head covering the entry is published in the same transaction, so every
    entry can be proven as soon as it is visible. Payloads must not contain personal data.
    """
    if not isinstance(payload, Mapping):
        raise ValidationFailed("A log payload must be a JSON object.")
    if looks_like_tree_head(payload):
        raise ValidationFailed(
            "A log payload cannot have exactly the fields of a tree head.",
            detail={"fields": sorted(payload)},
        )
    body = canonical_json(payload)
    extra = _checked_cosignatures(payload, cosignatures, cosigner_keys)

    with transaction.atomic():
        state = _lock_log()
        key = signing_key_current()
        if any(entry["kid"] == key.kid for entry in extra):
            raise ValidationFailed("A co-signature cannot be made with the registry's key.")
        registry_signature = {
            "kid": key.kid,
            "sig": signing.b64encode(signing.sign(_private_key(key), body)),
        }
        record = canonical_json(
            {"payload": dict(payload), "signatures": [registry_signature, *extra]}
        )
        if len(record) > MAX_RECORD_BYTES:
            raise PayloadTooLarge(
                f"A signed record may be at most {MAX_RECORD_BYTES} bytes.",
                detail={"size": len(record)},
            )
        index = state.tree_size
        leaf_hash = merkle.leaf_hash(record)
        nodes = merkle.nodes_for_append(DatabaseNodeStore(), index, leaf_hash)
        entry = LogEntry.objects.create(index=index, leaf_hash=leaf_hash, record=record)
        MerkleNode.objects.bulk_create(
            [
                MerkleNode(level=level, index=node_index, hash=value)
                for level, node_index, value in nodes
            ]
        )
        state.tree_size = index + 1
        state.save(update_fields=["tree_size"])
        _tree_head_sign_locked(tree_size=state.tree_size)
    return entry


# --- subject commitments ------------------------------------------------------------------------

_SUBJECT_TAG = b"likeness-registry/subject/v1"


def subject_commitment(person: Person) -> str:
    """The hex commitment that names ``person`` in signed records.

    ``HMAC-SHA256(SUBJECT_COMMITMENT_KEY, tag || commitment_salt || public_id)``. A plain hash of
    salt and id would already hide the person while the salt is secret, but the salt sits in
    the same database as the records; keying it with a secret held outside the database means
    a database dump alone cannot link a record to a person either. Erasure destroys the salt
    (the ``Person`` row), after which nobody, the registry included, can recompute it.
    """
    key = settings.SUBJECT_COMMITMENT_KEY
    message = _SUBJECT_TAG + bytes(person.commitment_salt) + person.public_id.encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()
