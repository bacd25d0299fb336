"""Every write of the consent app.

Log part: appending signed records to the transparency log, signing tree heads and managing
the registry's signing keys. Appends, head signing and key rotation all lock the single
``LogState`` row first, so they are serialised across processes in one order: the log lock,
then the signing key.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from consent.delivery import (
    LOCAL_HOSTS,
    WEBHOOK_MAX_ATTEMPTS,
    WEBHOOK_SIGNATURE_HEADER,
    http_post,
    webhook_backoff_seconds,
    webhook_signature,
)
from consent.lib import merkle, signing
from consent.lib.canonical import canonical_json, parse_json
from consent.lib.sealing import seal, unseal
from consent.lib.treehead import looks_like_tree_head, tree_head_signed_bytes
from consent.lib.uses import ALL_USES, MEDIA_TYPES, USE_CATEGORIES, WORLDWIDE, is_territory
from consent.models import (
    ConsentCheck,
    ConsentRequest,
    LogEntry,
    LogState,
    MerkleNode,
    PersonCheckedBy,
    PersonKey,
    Record,
    RecordKind,
    SignedTreeHead,
    SigningKey,
    WebhookDelivery,
    WebhookEndpoint,
)
from consent.selectors import DatabaseNodeStore, consent_decision, person_has_active_optout
from consent.tasks import webhook_deliver
from registry import services as registry_services
from registry.db import model_from_row
from registry.lib.errors import (
    Conflict,
    NotFound,
    PayloadTooLarge,
    PermissionDeniedError,
    ValidationFailed,
)
from registry.models import Organisation, OrganisationKind, Person, User

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
    now = timezone.now()
    # Whole milliseconds, so the stored timestamp reproduces the signed one exactly.
    timestamp = now.replace(microsecond=now.microsecond // 1000 * 1000)
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


# =================================================================================================
# Records and decisions (records engineer)
#
# Opt-outs, grants, revocations and attestations: each is a payload without personal data,
# appended with ``log_append`` (the signed envelope is the source of truth) and mirrored in a
# ``Record`` row for queries. Lock order, everywhere: decision rows (``Record``, request) first,
# then the log. Revocation locks the row it revokes and commits before it returns; consent
# checks lock the rows that decide them, so a check either commits before a revocation (its
# receipt precedes the revocation in the log) or sees it.
# =================================================================================================

RECORD_FORMAT = "likeness-registry/record/v1"
CHECK_RECEIPT_FORMAT = "likeness-registry/consent-check-receipt/v1"
SIGNED_RECEIPT_FORMAT = "likeness-registry/signed-receipt/v1"
_SUBJECT_TAG = b"likeness-registry/subject/v1"
_TERMS_TAG = b"likeness-registry/terms/v1"
# A person-signed draft must be submitted within this long of the time it states.
DRAFT_MAX_AGE = timedelta(minutes=15)
MAX_PURPOSE_LENGTH = 2000


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


def terms_digest(*, salt: bytes, purpose: str, project_ref: str) -> str:
    """Commitment to a grant's free-text terms, which may mention people and so stay off the log.

    The grantee gets the salt with the terms and can recompute it; once the row's terms are
    dropped (erasure), the digest reveals nothing.
    """
    body = canonical_json({"purpose": purpose, "project_ref": project_ref})
    return hashlib.sha256(_TERMS_TAG + salt + body).hexdigest()


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def iso_ms(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _to_ms(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _clean_categories(categories: Sequence[str] | None, *, allow_all: bool) -> list[str]:
    if categories is None:
        if not allow_all:
            raise ValidationFailed("List the categories of use.", detail={"categories": "required"})
        return [ALL_USES]
    values = sorted(set(categories))
    if ALL_USES in values:
        if not allow_all:
            raise ValidationFailed(
                "A grant covers described uses, not all uses.", detail={"categories": "all"}
            )
        return [ALL_USES]
    unknown = [value for value in values if value not in USE_CATEGORIES]
    if unknown or not values:
        raise ValidationFailed(
            f"Unknown use categories: {', '.join(unknown) or '(none given)'}.",
            detail={"categories": unknown, "allowed": [*USE_CATEGORIES, ALL_USES]},
        )
    return values


def _clean_media_types(media_types: Sequence[str]) -> list[str]:
    values = sorted(set(media_types or ()))
    unknown = [value for value in values if value not in MEDIA_TYPES]
    if unknown or not values:
        raise ValidationFailed(
            f"Unknown media types: {', '.join(unknown) or '(none given)'}.",
            detail={"media_types": unknown, "allowed": list(MEDIA_TYPES)},
        )
    return values


def _clean_territory(territory: str) -> str:
    if not isinstance(territory, str) or not is_territory(territory):
        raise ValidationFailed(
            f"Territory must be an ISO 3166-1 alpha-2 code or {WORLDWIDE!r}.",
            detail={"territory": territory},
        )
    return territory


def _draft_identity(record_id: str | None, issued_at: datetime | None) -> tuple[str, datetime]:
    """The record id and time of a new record; a signed draft brings its own, checked here."""
    now = timezone.now()
    if record_id is None and issued_at is None:
        return _new_id("rec"), _to_ms(now)
    if not record_id or issued_at is None or not record_id.startswith("rec_"):
        raise ValidationFailed("A signed draft needs both its record_id and its issued_at.")
    if abs(now - issued_at) > DRAFT_MAX_AGE:
        raise ValidationFailed(
            "The signed draft is too old (or from the future); ask for a new one.",
            code="stale_draft",
        )
    if Record.objects.filter(record_id=record_id).exists():
        raise Conflict("A record with this id already exists.", code="duplicate_record")
    return record_id, _to_ms(issued_at)


def _payload(*, kind: str, record_id: str, subject: str, issued_at: datetime, **terms) -> dict:
    return {
        "format": RECORD_FORMAT,
        "kind": kind,
        "record_id": record_id,
        "subject": subject,
        "issued_at": iso_ms(issued_at),
        **terms,
    }


def _person_cosignature(
    *, person: Person, payload: Mapping[str, Any], person_signature: bytes | None
) -> tuple[PersonKey | None, list[dict[str, str]], list[dict[str, Any]]]:
    """Find the person's registered key that made ``person_signature`` over the payload."""
    if person_signature is None:
        return None, [], []
    body = canonical_json(payload)
    for key in PersonKey.objects.filter(person=person, revoked_at__isnull=True):
        if signing.verify(bytes(key.public_key), body, bytes(person_signature)):
            published = signing.public_key_to_jwk(
                bytes(key.public_key), status="current", created_at=key.created_at
            )
            cosignature = {"kid": key.kid, "sig": signing.b64encode(bytes(person_signature))}
            return key, [cosignature], [published]
    raise ValidationFailed(
        "The signature does not verify with any of your registered keys.",
        code="invalid_signature",
    )


def _record_append(
    *,
    kind: str,
    person: Person,
    payload: dict,
    person_signature: bytes | None,
    fields: Mapping[str, Any],
) -> Record:
    """Append the payload (with the person's verified co-signature) and mirror it; in a txn."""
    person_key, cosignatures, cosigner_keys = _person_cosignature(
        person=person, payload=payload, person_signature=person_signature
    )
    entry = log_append(payload=payload, cosignatures=cosignatures, cosigner_keys=cosigner_keys)
    return Record.objects.create(
        record_id=payload["record_id"],
        kind=kind,
        person=person,
        subject=payload["subject"],
        person_key=person_key,
        log_entry=entry,
        created_at=datetime.fromisoformat(payload["issued_at"]),
        **fields,
    )


def _require_actor_is(person: Person, actor: User | None) -> None:
    if actor is not None and actor.pk != person.user_id and not actor.is_staff:
        raise PermissionDeniedError("Only the person themselves can make this decision.")


def record_draft(
    *, kind: str, person: Person, record_id: str | None = None, **terms: Any
) -> dict[str, Any]:
    """The exact payload a person signs with their own key before submitting a decision.

    Kinds ``optout`` (terms: ``categories``) and ``revocation`` (``record``). Submitting the
    returned ``record_id`` and ``issued_at`` with the signature reproduces the same payload.
    """
    record_id = record_id or _new_id("rec")
    issued_at = _to_ms(timezone.now())
    subject = subject_commitment(person)
    if kind == RecordKind.OPTOUT:
        categories = _clean_categories(terms.get("categories"), allow_all=True)
        return _payload(
            kind=kind,
            record_id=record_id,
            subject=subject,
            issued_at=issued_at,
            categories=categories,
        )
    if kind == RecordKind.REVOCATION:
        target: Record = terms["record"]
        return _revocation_payload(
            record=target, record_id=record_id, issued_at=issued_at, subject=subject
        )
    raise ValidationFailed(f"Drafts are available for opt-outs and revocations, not {kind!r}.")


def optout_record(
    *,
    person: Person,
    categories: list[str] | None,
    actor: User | None = None,
    person_signature: bytes | None = None,
    record_id: str | None = None,
    issued_at: datetime | None = None,
) -> Record:
    """Record that ``person`` refuses synthetic media of their likeness (all uses when None).

    With ``person_signature`` (over the payload of ``record_draft``, whose ``record_id`` and
    ``issued_at`` are passed back) the logged record carries the person's signature as well.
    Organisations that checked the person hear about it by webhook.
    """
    _require_actor_is(person, actor)
    cleaned = _clean_categories(categories, allow_all=True)
    record_id, issued_at = _draft_identity(record_id, issued_at)
    payload = _payload(
        kind=RecordKind.OPTOUT,
        record_id=record_id,
        subject=subject_commitment(person),
        issued_at=issued_at,
        categories=cleaned,
    )
    with transaction.atomic():
        record = _record_append(
            kind=RecordKind.OPTOUT,
            person=person,
            payload=payload,
            person_signature=person_signature,
            fields={"categories": cleaned},
        )
        templates_optout_sync(person_id=person.pk)
        # robust: the decision is committed; a notification failure is logged, never an error
        # for the person who made it.
        transaction.on_commit(
            lambda: webhook_events_for_optout(record_id=record.record_id), robust=True
        )
    return record


def grant_record(
    *,
    person: Person,
    organisation: Organisation,
    purpose: str,
    categories: list[str],
    media_types: list[str],
    territory: str,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    project_ref: str = "",
    actor: User | None = None,
    person_signature: bytes | None = None,
    record_id: str | None = None,
    issued_at: datetime | None = None,
) -> Record:
    """Record that ``person`` allows ``organisation`` one described use."""
    _require_actor_is(person, actor)
    record_id, issued_at = _draft_identity(record_id, issued_at)
    payload, fields = _grant_terms(
        person=person,
        organisation=organisation,
        purpose=purpose,
        categories=categories,
        media_types=media_types,
        territory=territory,
        valid_from=valid_from,
        valid_until=valid_until,
        project_ref=project_ref,
        record_id=record_id,
        issued_at=issued_at,
    )
    with transaction.atomic():
        return _record_append(
            kind=RecordKind.GRANT,
            person=person,
            payload=payload,
            person_signature=person_signature,
            fields=fields,
        )


def _terms_salt(record_id: str) -> bytes:
    # Derived, not random, so a person can be shown the exact payload to sign before it is
    # recorded; keyed with a secret held outside the database, so outsiders cannot derive it.
    message = b"likeness-registry/terms-salt/v1" + record_id.encode()
    return hmac.new(settings.SUBJECT_COMMITMENT_KEY, message, hashlib.sha256).digest()[:16]


def _clean_use_terms(
    *,
    purpose: str,
    categories: Sequence[str],
    media_types: Sequence[str],
    territory: str,
    valid_from: datetime | None,
    valid_until: datetime | None,
) -> tuple[str, list[str], list[str], str]:
    """The described use shared by grants and consent requests, validated and normalised."""
    purpose = (purpose or "").strip()
    if not purpose or len(purpose) > MAX_PURPOSE_LENGTH:
        raise ValidationFailed(
            f"Describe the use in 1 to {MAX_PURPOSE_LENGTH} characters.",
            detail={"purpose": "length"},
        )
    cleaned_categories = _clean_categories(categories, allow_all=False)
    cleaned_media = _clean_media_types(media_types)
    territory = _clean_territory(territory)
    if valid_from and valid_until and valid_until <= valid_from:
        raise ValidationFailed("valid_until must be after valid_from.")
    return purpose, cleaned_categories, cleaned_media, territory


def _grant_terms(
    *,
    person: Person,
    organisation: Organisation,
    purpose: str,
    categories: list[str],
    media_types: list[str],
    territory: str,
    valid_from: datetime | None,
    valid_until: datetime | None,
    project_ref: str,
    record_id: str,
    issued_at: datetime,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The signed payload of a grant and the row fields that mirror it, validated."""
    if organisation.kind not in (OrganisationKind.STUDIO, OrganisationKind.PLATFORM):
        raise ValidationFailed("Consent is granted to studios and platforms.")
    purpose, cleaned_categories, cleaned_media, territory = _clean_use_terms(
        purpose=purpose,
        categories=categories,
        media_types=media_types,
        territory=territory,
        valid_from=valid_from,
        valid_until=valid_until,
    )
    salt = _terms_salt(record_id)
    valid_from = _to_ms(valid_from) if valid_from else None
    valid_until = _to_ms(valid_until) if valid_until else None
    payload = _payload(
        kind=RecordKind.GRANT,
        record_id=record_id,
        subject=subject_commitment(person),
        issued_at=issued_at,
        grantee=organisation.slug,
        categories=cleaned_categories,
        media_types=cleaned_media,
        territory=territory,
        valid_from=iso_ms(valid_from),
        valid_until=iso_ms(valid_until),
        terms_digest=terms_digest(salt=salt, purpose=purpose, project_ref=project_ref),
    )
    fields = {
        "organisation": organisation,
        "categories": cleaned_categories,
        "media_types": cleaned_media,
        "territory": territory,
        "valid_from": valid_from,
        "valid_until": valid_until,
        "purpose": purpose,
        "project_ref": project_ref,
        "terms_salt": salt,
    }
    return payload, fields


def _requested_terms(request: ConsentRequest) -> dict[str, Any]:
    """The use a consent request asks for, as grant terms. The draft a person signs and the grant
    logged on approval both come from here, so the signature covers exactly what is logged."""
    return {
        "organisation": request.organisation,
        "purpose": request.purpose,
        "categories": request.categories,
        "media_types": request.media_types,
        "territory": request.territory,
        "valid_from": request.valid_from,
        "valid_until": request.valid_until,
        "project_ref": request.project_ref,
    }


def grant_draft(*, request: ConsentRequest, person: Person) -> dict[str, Any]:
    """The exact grant payload approving ``request`` would log, for the person to sign."""
    payload, _ = _grant_terms(
        person=person,
        **_requested_terms(request),
        record_id=_new_id("rec"),
        issued_at=_to_ms(timezone.now()),
    )
    return payload


def _revocation_payload(
    *, record: Record, record_id: str, issued_at: datetime, subject: str
) -> dict[str, Any]:
    return _payload(
        kind=RecordKind.REVOCATION,
        record_id=record_id,
        subject=subject,
        issued_at=issued_at,
        revokes=record.record_id,
        revokes_kind=record.kind,
    )


def record_revoke(
    *,
    record: Record,
    actor: User | None = None,
    person_signature: bytes | None = None,
    record_id: str | None = None,
    issued_at: datetime | None = None,
) -> Record:
    """Revoke an opt-out or a grant, effective immediately; returns the revocation record.

    The revoked row is locked before anything else and the revocation commits before this
    returns, so once the caller is told "revoked", every consent check sees it.
    """
    with transaction.atomic():
        target = Record.objects.select_for_update().filter(pk=record.pk).first()
        if target is None:
            raise NotFound("No such record.")
        if target.kind not in (RecordKind.OPTOUT, RecordKind.GRANT):
            raise ValidationFailed("Only opt-outs and grants can be revoked.")
        if target.revoked_at is not None:
            raise Conflict("This record is already revoked.", code="already_revoked")
        person = target.person
        if person is None:
            raise Conflict("The person this record names has been erased.", code="erased")
        _require_actor_is(person, actor)
        record_id, issued_at = _draft_identity(record_id, issued_at)
        payload = _revocation_payload(
            record=target,
            record_id=record_id,
            issued_at=issued_at,
            subject=subject_commitment(person),
        )
        revocation = _record_append(
            kind=RecordKind.REVOCATION,
            person=person,
            payload=payload,
            person_signature=person_signature,
            fields={"revokes": target},
        )
        target.revoked_at = revocation.created_at
        target.save(update_fields=["revoked_at"])
        if target.kind == RecordKind.OPTOUT:
            templates_optout_sync(person_id=person.pk)
        if target.kind == RecordKind.GRANT:
            transaction.on_commit(
                lambda: webhook_event_for_grant(
                    record_id=target.record_id, event_type="grant.revoked"
                ),
                robust=True,
            )
    return revocation


def attestation_record(
    *, person: Person, verifier: Organisation, actor: User | None = None
) -> Record:
    """A verifier organisation confirms the person's identity (how stays off the log)."""
    if verifier.kind != OrganisationKind.VERIFIER:
        raise PermissionDeniedError("Only verifier organisations attest identities.")
    record_id, issued_at = _draft_identity(None, None)
    payload = _payload(
        kind=RecordKind.ATTESTATION,
        record_id=record_id,
        subject=subject_commitment(person),
        issued_at=issued_at,
        verifier=verifier.slug,
    )
    with transaction.atomic():
        return _record_append(
            kind=RecordKind.ATTESTATION,
            person=person,
            payload=payload,
            person_signature=None,
            fields={"organisation": verifier},
        )


# First key of pg_advisory_xact_lock(int, int) for a person's opt-out flag (second: the person).
_OPTOUT_FLAG_LOCK = 6006


def templates_optout_sync(*, person_id: int) -> bool:
    """Set the person's templates' ``opted_out`` flag from their records; returns the value.

    Called in the same transaction as every opt-out, every revocation of one and every
    enrollment, so the flag commits with the decision: checks search only flagged templates, and
    a flag out of step would hide an opted-out person from the very next check.

    The value is read under a per-person transaction lock that all of these take, so a template
    enrolled while an opt-out commits is either seen by the opt-out's UPDATE or sees the opt-out
    itself (READ COMMITTED: each statement after the lock reads what committed before it). An
    advisory lock rather than the person row's: revocation already holds the record's row lock,
    and erasure takes the person's and then the records', so a row lock here could deadlock.
    """
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, (%s %% 2147483647)::int)",
                [_OPTOUT_FLAG_LOCK, person_id],
            )
        opted_out = person_has_active_optout(person_id=person_id)
        registry_services.templates_optout_flag_set(person_id=person_id, opted_out=opted_out)
    return opted_out


def person_key_register(*, person: Person, public_key: bytes) -> PersonKey:
    """Register the person's own Ed25519 public key for co-signing their records."""
    public_key = bytes(public_key)
    try:
        signing.public_key_from_bytes(public_key)
    except ValueError as error:
        raise ValidationFailed(str(error), code="invalid_key") from None
    kid = signing.key_id(public_key)
    if PersonKey.objects.filter(kid=kid).exists():
        raise Conflict("This key is already registered.", code="duplicate_key")
    return PersonKey.objects.create(person=person, kid=kid, public_key=public_key)


def person_key_revoke(*, key: PersonKey) -> PersonKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    return key


def person_records_on_erasure(*, person: Person) -> None:
    """Called before a person is erased: keep records and log, drop what links them to the person.

    The ``Record.person`` foreign key becomes NULL with the person row; here we drop the free-
    text terms (which may name the person; the log only holds their digest), the list of
    organisations that checked the person, pending requests (which hold an email address) and
    the person's public keys. Revocation state and the signed records themselves stay.
    """
    with transaction.atomic():
        Record.objects.filter(person=person).update(
            purpose="", project_ref="", terms_salt=None, person_key=None
        )
        PersonCheckedBy.objects.filter(person=person).delete()
        ConsentRequest.objects.filter(person=person, status=ConsentRequest.Status.PENDING).delete()
        if person.user_id and person.user.email:
            ConsentRequest.objects.filter(
                person__isnull=True, invite_email__iexact=person.user.email
            ).delete()
        ConsentRequest.objects.filter(person=person).update(invite_email="")
        PersonKey.objects.filter(person=person).delete()


def person_checked_by(*, person_id: int, organisation_id: int, reference: str = "") -> None:
    """Remember that an organisation checked a person, so it hears when they opt out.

    ``reference`` is how that organisation knows the person (a platform's opaque reference);
    webhook events name the person by it. One upsert, cheap enough for every check.
    """
    now = timezone.now()
    PersonCheckedBy.objects.bulk_create(
        [
            PersonCheckedBy(
                person_id=person_id,
                organisation_id=organisation_id,
                reference=reference[:100],
                first_checked_at=now,
                last_checked_at=now,
            )
        ],
        update_conflicts=True,
        unique_fields=["person", "organisation"],
        update_fields=["last_checked_at", "reference"],
    )


# --- receipts and consent checks ------------------------------------------------------------------


def receipt_sign(*, kind: str, body: dict) -> dict:
    """A signed receipt envelope that is *not* appended to the log.

    For high-volume answers (platform media checks): it takes no log lock, only a signature by
    the current registry key. ``consent.lib.receipts.verify_receipt`` checks it offline with
    ``keys.json``. ``body`` must be JSON without personal data.
    """
    if not kind or not isinstance(body, Mapping):
        raise ValidationFailed("A receipt needs a kind and a JSON object body.")
    payload = {
        "format": SIGNED_RECEIPT_FORMAT,
        "kind": kind,
        "receipt_id": _new_id("rct"),
        "issued_at": iso_ms(timezone.now()),
        "body": dict(body),
    }
    key = signing_key_current()
    signature = signing.signature_entry(key.kid, _private_key(key), payload)
    return {"payload": payload, "signatures": [signature]}


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
        "format": "likeness-registry/logged-receipt/v1",
        **proven(entry),
        "tree_head": {
            "tree_size": head.tree_size,
            "root_hash": signing.b64encode(bytes(head.root_hash)),
            "timestamp": head.timestamp_ms,
            "kid": head.kid,
            "signature": signing.b64encode(bytes(head.signature)),
        },
        "related": [proven(item) for item in related],
    }


def consent_check(
    *,
    organisation: Organisation,
    person: Person,
    category: str,
    media_type: str | None = None,
    territory: str | None = None,
    at: datetime | None = None,
) -> tuple[ConsentCheck, dict[str, Any]]:
    """Decide whether the organisation may use the person's likeness this way, and log it.

    Returns the check row and its receipt (``logged_receipt``): the signed decision with its
    inclusion proof and the deciding record's, verifiable offline with ``keys.json``.
    """
    if category not in USE_CATEGORIES:
        raise ValidationFailed(
            f"Unknown use category {category!r}.", detail={"allowed": list(USE_CATEGORIES)}
        )
    if media_type is not None and media_type not in MEDIA_TYPES:
        raise ValidationFailed(
            f"Unknown media type {media_type!r}.", detail={"allowed": list(MEDIA_TYPES)}
        )
    if territory is not None:
        territory = _clean_territory(territory)
    now = _to_ms(timezone.now())
    use_at = _to_ms(at) if at is not None else now
    with transaction.atomic():
        decision = consent_decision(
            person_id=person.pk,
            organisation_id=organisation.pk,
            category=category,
            media_type=media_type,
            territory=territory,
            at=use_at,
            lock=True,
        )
        check_id = _new_id("chk")
        decided_by = decision.record
        payload = {
            "format": CHECK_RECEIPT_FORMAT,
            "receipt_id": check_id,
            "checked_at": iso_ms(now),
            "checker": organisation.slug,
            "subject": subject_commitment(person),
            "use": {
                "category": category,
                "media_type": media_type,
                "territory": territory,
                "date": iso_ms(use_at),
            },
            "result": decision.result,
            "decided_by": decided_by.record_id if decided_by else None,
        }
        entry = log_append(payload=payload)
        check = ConsentCheck.objects.create(
            check_id=check_id,
            organisation=organisation,
            person=person,
            category=category,
            media_type=media_type or "",
            territory=territory or "",
            use_at=use_at,
            result=decision.result,
            decided_by=decided_by,
            log_entry=entry,
            created_at=now,
        )
        person_checked_by(
            person_id=person.pk, organisation_id=organisation.pk, reference=person.public_id
        )
    related = [decided_by.log_entry] if decided_by else []
    return check, logged_receipt(entry=entry, related=related)


# --- consent requests ---------------------------------------------------------------------------


def consent_request_create(
    *,
    organisation: Organisation,
    requested_by: User | None,
    purpose: str,
    categories: list[str],
    media_types: list[str],
    territory: str,
    person: Person | None = None,
    email: str | None = None,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    project_ref: str = "",
) -> ConsentRequest:
    """A studio asks a person (found by handle or public id, or invited by email) for one use.

    The answer never reveals whether an email address belongs to someone registered: the
    request looks the same either way and the person sees it once signed in.
    """
    if organisation.kind not in (OrganisationKind.STUDIO, OrganisationKind.PLATFORM):
        raise PermissionDeniedError("Only studios and platforms ask for consent.")
    if (person is None) == (not email):
        raise ValidationFailed("Address the request to one person: a handle or an email.")
    purpose, cleaned_categories, cleaned_media, territory = _clean_use_terms(
        purpose=purpose,
        categories=categories,
        media_types=media_types,
        territory=territory,
        valid_from=valid_from,
        valid_until=valid_until,
    )
    invite_email = ""
    if email:
        invite_email = email.strip().lower()
        person = (
            Person.objects.filter(user__email__iexact=invite_email, user__isnull=False)
            .exclude(user__email_verified_at__isnull=True)
            .first()
        )
    with transaction.atomic():
        request = ConsentRequest.objects.create(
            request_id=_new_id("creq"),
            organisation=organisation,
            requested_by=requested_by,
            person=person,
            invite_email="" if person else invite_email,
            purpose=purpose,
            categories=cleaned_categories,
            media_types=cleaned_media,
            territory=territory,
            valid_from=valid_from,
            valid_until=valid_until,
            project_ref=project_ref,
        )
        if invite_email:
            transaction.on_commit(
                lambda: _send_invitation(email=invite_email, organisation_name=organisation.name),
                robust=True,
            )
    return request


def _send_invitation(*, email: str, organisation_name: str) -> None:
    from django.core.mail import send_mail

    send_mail(
        subject=f"{organisation_name} asks for your consent on the Likeness Registry",
        message=(
            f"{organisation_name} asks for your consent to a use of your likeness.\n\n"
            f"Sign in (or sign up with this address) to read the request and approve or "
            f"decline it: {settings.SITE_URL}/me/consent/requests/\n"
        ),
        from_email=None,
        recipient_list=[email],
        fail_silently=True,
    )


def _lock_request_for(*, request: ConsentRequest, person: Person) -> ConsentRequest:
    locked = ConsentRequest.objects.select_for_update().filter(pk=request.pk).first()
    if locked is None:
        raise NotFound("No such consent request.")
    user = person.user
    addressed = locked.person_id == person.pk or (
        locked.person_id is None
        and user is not None
        and user.email_verified_at is not None
        and locked.invite_email.lower() == user.email.lower()
    )
    if not addressed:
        raise NotFound("No such consent request.")
    if locked.status != ConsentRequest.Status.PENDING:
        raise Conflict(f"This request was already {locked.status}.", code="already_answered")
    return locked


def consent_request_approve(
    *,
    request: ConsentRequest,
    person: Person,
    actor: User | None = None,
    person_signature: bytes | None = None,
    record_id: str | None = None,
    issued_at: datetime | None = None,
) -> Record:
    """The person approves: a signed grant exactly as requested."""
    with transaction.atomic():
        locked = _lock_request_for(request=request, person=person)
        grant = grant_record(
            person=person,
            **_requested_terms(locked),
            actor=actor,
            person_signature=person_signature,
            record_id=record_id,
            issued_at=issued_at,
        )
        locked.person = person
        locked.invite_email = ""
        locked.status = ConsentRequest.Status.APPROVED
        locked.grant = grant
        locked.answered_at = grant.created_at
        locked.save(update_fields=["person", "invite_email", "status", "grant", "answered_at"])
    return grant


def consent_request_decline(
    *, request: ConsentRequest, person: Person, actor: User | None = None
) -> ConsentRequest:
    _require_actor_is(person, actor)
    with transaction.atomic():
        locked = _lock_request_for(request=request, person=person)
        locked.person = person
        locked.invite_email = ""
        locked.status = ConsentRequest.Status.DECLINED
        locked.answered_at = timezone.now()
        locked.save(update_fields=["person", "invite_email", "status", "answered_at"])
    return locked


def consent_request_withdraw(
    *, request: ConsentRequest, organisation: Organisation
) -> ConsentRequest:
    with transaction.atomic():
        locked = ConsentRequest.objects.select_for_update().filter(pk=request.pk).first()
        if locked is None or locked.organisation_id != organisation.pk:
            raise NotFound("No such consent request.")
        if locked.status != ConsentRequest.Status.PENDING:
            raise Conflict(f"This request was already {locked.status}.", code="already_answered")
        locked.status = ConsentRequest.Status.WITHDRAWN
        locked.invite_email = ""
        locked.answered_at = timezone.now()
        locked.save(update_fields=["status", "invite_email", "answered_at"])
    return locked


# --- webhooks -----------------------------------------------------------------------------------


def _insecure_localhost_allowed() -> bool:
    return bool(settings.DEBUG or getattr(settings, "WEBHOOKS_ALLOW_INSECURE_LOCALHOST", False))


def webhook_url_check(url: str) -> str:
    """HTTPS only, no credentials in the URL, no literal private addresses.

    Plain ``http://127.0.0.1`` (or localhost) is allowed only with ``DEBUG`` or
    ``WEBHOOKS_ALLOW_INSECURE_LOCALHOST`` (tests, local development).
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 (raises ValueError for a bad port)
    except ValueError:
        raise ValidationFailed("Not a valid URL.", detail={"url": url}) from None
    if not host or parts.username or parts.password:
        raise ValidationFailed("The URL needs a host and must not carry credentials.")
    if parts.scheme == "http" and host in LOCAL_HOSTS and _insecure_localhost_allowed():
        return url
    if parts.scheme != "https":
        raise ValidationFailed("Webhook endpoints must use HTTPS.", code="insecure_url")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    internal = host in LOCAL_HOSTS or (
        address is not None and (address.is_private or address.is_loopback or address.is_link_local)
    )
    if internal and not _insecure_localhost_allowed():
        raise ValidationFailed("Webhook endpoints must be publicly reachable.")
    return url


def webhook_endpoint_create(
    *, organisation: Organisation, url: str, description: str = "", created_by: User | None = None
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it and its signing secret, which is shown only this once."""
    webhook_url_check(url)
    endpoint_id = _new_id("whe")
    secret = "whsec_" + secrets.token_urlsafe(32)
    endpoint = WebhookEndpoint.objects.create(
        endpoint_id=endpoint_id,
        organisation=organisation,
        url=url,
        description=description[:200],
        created_by=created_by,
        secret_sealed=seal(
            _key_encryption_key(), secret.encode(), associated_data=endpoint_id.encode()
        ),
    )
    return endpoint, secret


def webhook_endpoint_disable(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    if endpoint.disabled_at is None:
        endpoint.disabled_at = timezone.now()
        endpoint.save(update_fields=["disabled_at"])
    return endpoint


def _endpoint_secret(endpoint: WebhookEndpoint) -> str:
    return unseal(
        _key_encryption_key(),
        bytes(endpoint.secret_sealed),
        associated_data=endpoint.endpoint_id.encode(),
    ).decode()


def _enqueue_deliveries(delivery_ids: list[str]) -> None:
    for delivery_id in delivery_ids:
        webhook_deliver.delay(delivery_id)


def webhook_event_emit(
    *, organisation_ids: Sequence[int], event_type: str, data: Mapping[str, Any]
) -> list[WebhookDelivery]:
    """One delivery per active endpoint of the organisations, sent after the commit."""
    event_id = _new_id("evt")
    payload = {
        "id": event_id,
        "type": event_type,
        "created_at": iso_ms(timezone.now()),
        "data": dict(data),
    }
    endpoints = WebhookEndpoint.objects.filter(
        organisation_id__in=list(organisation_ids), disabled_at__isnull=True
    )
    deliveries = [
        WebhookDelivery(
            delivery_id=_new_id("whd"),
            endpoint=endpoint,
            event_id=event_id,
            event_type=event_type,
            payload=payload,
            next_attempt_at=timezone.now(),
        )
        for endpoint in endpoints
    ]
    if deliveries:
        with transaction.atomic():
            WebhookDelivery.objects.bulk_create(deliveries)
            ids = [delivery.delivery_id for delivery in deliveries]
            transaction.on_commit(lambda: _enqueue_deliveries(ids), robust=True)
    return deliveries


def webhook_event_for_grant(*, record_id: str, event_type: str) -> list[WebhookDelivery]:
    """``grant.revoked`` / ``grant.expired`` to the organisation holding the grant."""
    grant = (
        Record.objects.select_related("person", "revocation")
        .filter(record_id=record_id, kind=RecordKind.GRANT)
        .first()
    )
    if grant is None or grant.organisation_id is None:
        return []
    revocation = getattr(grant, "revocation", None)
    data = {
        "grant": grant.record_id,
        "person": grant.person.public_id if grant.person else None,
        "project_ref": grant.project_ref,
        "revocation": revocation.record_id if revocation else None,
        "revoked_at": iso_ms(grant.revoked_at),
        "valid_until": iso_ms(grant.valid_until),
    }
    return webhook_event_emit(
        organisation_ids=[grant.organisation_id], event_type=event_type, data=data
    )


def webhook_events_for_optout(*, record_id: str) -> list[WebhookDelivery]:
    """``person.opted_out`` to every organisation that checked the person, by its reference."""
    optout = Record.objects.filter(record_id=record_id, kind=RecordKind.OPTOUT).first()
    if optout is None or optout.person_id is None:
        return []
    deliveries: list[WebhookDelivery] = []
    for organisation_id, reference in PersonCheckedBy.objects.filter(
        person_id=optout.person_id
    ).values_list("organisation_id", "reference"):
        deliveries += webhook_event_emit(
            organisation_ids=[organisation_id],
            event_type="person.opted_out",
            data={
                "person_reference": reference,
                "optout": optout.record_id,
                "categories": optout.categories,
                "created_at": iso_ms(optout.created_at),
            },
        )
    return deliveries


def grants_expired_notify(*, now: datetime | None = None, batch: int = 500) -> int:
    """Send ``grant.expired`` once for every grant whose validity ended; returns how many.

    Rows are claimed with ``SKIP LOCKED`` and marked in the same transaction, so overlapping
    runs (two beat schedulers, a slow run) never announce one expiry twice.
    """
    now = now or timezone.now()
    sent = 0
    while True:
        with transaction.atomic():
            due = list(
                Record.objects.select_for_update(skip_locked=True)
                .filter(
                    kind=RecordKind.GRANT,
                    revoked_at__isnull=True,
                    expiry_notified_at__isnull=True,
                    valid_until__lte=now,
                )
                .order_by("valid_until", "id")[:batch]
            )
            if not due:
                return sent
            Record.objects.filter(pk__in=[grant.pk for grant in due]).update(expiry_notified_at=now)
            for grant in due:
                webhook_event_for_grant(record_id=grant.record_id, event_type="grant.expired")
            sent += len(due)


def webhook_attempt(*, delivery_id: str) -> int | None:
    """Make one delivery attempt; returns the seconds until a retry is due, or None when done.

    The row is locked (``SKIP LOCKED``) for the attempt, so two workers never send one
    delivery at the same time.
    """
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .select_related("endpoint")
            .filter(delivery_id=delivery_id)
            .first()
        )
        if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
            return None
        endpoint = delivery.endpoint
        now = timezone.now()
        if endpoint.disabled_at is not None:
            delivery.status = WebhookDelivery.Status.FAILED
            delivery.last_error = "endpoint disabled"
            delivery.next_attempt_at = None
            delivery.save(update_fields=["status", "last_error", "next_attempt_at"])
            return None
        body = canonical_json(delivery.payload)
        timestamp = int(now.timestamp())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "LikenessRegistry-Webhooks/1",
            "X-Registry-Event": delivery.event_type,
            "X-Registry-Delivery": delivery.delivery_id,
            WEBHOOK_SIGNATURE_HEADER: webhook_signature(
                secret=_endpoint_secret(endpoint), timestamp=timestamp, body=body
            ),
        }
        status, excerpt, error = http_post(endpoint.url, body, headers)
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.last_status_code = status
        delivery.response_excerpt = excerpt
        delivery.last_error = error
        retry_in = None
        if status is not None and 200 <= status < 300:
            delivery.status = WebhookDelivery.Status.SUCCEEDED
            delivery.delivered_at = timezone.now()
            delivery.next_attempt_at = None
        elif delivery.attempts >= WEBHOOK_MAX_ATTEMPTS:
            delivery.status = WebhookDelivery.Status.FAILED
            delivery.next_attempt_at = None
        else:
            retry_in = webhook_backoff_seconds(delivery.attempts)
            delivery.next_attempt_at = now + timedelta(seconds=retry_in)
        delivery.save()
    return retry_in


def webhook_redeliver(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again now (after a fix on the receiver's side), whatever its status."""
    with transaction.atomic():
        locked = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
        locked.status = WebhookDelivery.Status.PENDING
        locked.next_attempt_at = timezone.now()
        # A manual redelivery is one more attempt, and a few more retries if it fails again.
        locked.attempts = min(locked.attempts, WEBHOOK_MAX_ATTEMPTS - 3)
        locked.save(update_fields=["status", "next_attempt_at", "attempts"])
        transaction.on_commit(lambda: _enqueue_deliveries([locked.delivery_id]), robust=True)
    return locked


def webhook_deliveries_due(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Enqueue pending deliveries whose retry time has come (a safety net for lost tasks)."""
    now = now or timezone.now()
    ids = list(
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now
        )
        .order_by("next_attempt_at")
        .values_list("delivery_id", flat=True)[:limit]
    )
    _enqueue_deliveries(ids)
    return len(ids)
