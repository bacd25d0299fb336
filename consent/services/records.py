"""A person's decisions: opt-outs, grants, revocations and attestations, and what follows them;
also the one record about an organisation, its verification.

Each decision is a payload without personal data, appended with ``log_append`` (the signed
envelope is the source of truth) and mirrored in a ``Record`` row for queries. A person may
co-sign their own records with a key they registered (``consent.services.person_keys``). Also
here: the drafts a person signs before submitting, the opt-out flag on face
templates (``templates_optout_sync``), which commits with every decision that changes it, and
the erasure hook that unlinks a person's records from them.

Lock order, everywhere: decision rows (``Record``, request) first, then the log. Revocation
locks the row it revokes and commits before it returns; consent checks lock the rows that
decide them, so a check either commits before a revocation (its receipt precedes the
revocation in the log) or sees it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from consent.lib import signing
from consent.lib.canonical import canonical_json
from consent.lib.dates import iso_ms, whole_ms
from consent.lib.ids import new_id
from consent.lib.uses import categories_clean, use_terms_clean
from consent.models import ConsentRequest, PersonCheckedBy, PersonKey, Record, RecordKind
from consent.selectors import person_has_active_optout
from consent.services.log import log_append, subject_commitment
from consent.services.webhooks import webhook_event_for_grant, webhook_events_for_optout
from registry import services as registry_services
from registry.lib.errors import Conflict, NotFound, PermissionDeniedError, ValidationFailed
from registry.models import Organisation, OrganisationKind, Person, User

RECORD_FORMAT = "likeness-registry/record/v1"
_TERMS_TAG = b"likeness-registry/terms/v1"
# A person-signed draft must be submitted within this long of the time it states.
DRAFT_MAX_AGE = timedelta(minutes=15)


def terms_digest(*, salt: bytes, purpose: str, project_ref: str) -> str:
    """Commitment to a grant's free-text terms, which may mention people and so stay off the log.

    The grantee gets the salt with the terms and can recompute it; once the row's terms are
    dropped (erasure), the digest reveals nothing.
    """
    body = canonical_json({"purpose": purpose, "project_ref": project_ref})
    return hashlib.sha256(_TERMS_TAG + salt + body).hexdigest()


def _draft_identity(record_id: str | None, issued_at: datetime | None) -> tuple[str, datetime]:
    """The record id and time of a new record; a signed draft brings its own, checked here."""
    now = timezone.now()
    if record_id is None and issued_at is None:
        return new_id("rec"), whole_ms(now)
    if not record_id or issued_at is None or not record_id.startswith("rec_"):
        raise ValidationFailed("A signed draft needs both its record_id and its issued_at.")
    if abs(now - issued_at) > DRAFT_MAX_AGE:
        raise ValidationFailed(
            "The signed draft is too old (or from the future); ask for a new one.",
            code="stale_draft",
        )
    if Record.objects.filter(record_id=record_id).exists():
        raise Conflict("A record with this id already exists.", code="duplicate_record")
    return record_id, whole_ms(issued_at)


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
    record_id = record_id or new_id("rec")
    issued_at = whole_ms(timezone.now())
    subject = subject_commitment(person)
    if kind == RecordKind.OPTOUT:
        categories = categories_clean(terms.get("categories"), allow_all=True)
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
    cleaned = categories_clean(categories, allow_all=True)
    record_id, issued_at = _draft_identity(record_id, issued_at)
    payload = _payload(
        kind=RecordKind.OPTOUT,
        record_id=record_id,
        subject=subject_commitment(person),
        issued_at=issued_at,
        categories=cleaned,
    )
    with transaction.atomic():
        _person_optouts_lock(person_id=person.pk)
        _refuse_covered_optout(person=person, categories=cleaned)
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


def _refuse_covered_optout(*, person: Person, categories: list[str]) -> None:
    """An opt-out identical to or narrower than an active one would add a signed record that
    changes nothing (and a second one to revoke later): say which record already covers it."""
    for active in Record.objects.filter(
        person=person, kind=RecordKind.OPTOUT, revoked_at__isnull=True
    ).order_by("created_at"):
        held = set(active.categories or [])
        if "all" in held or set(categories) <= held:
            uses = "all uses" if "all" in held else ", ".join(sorted(held))
            raise Conflict(
                f"Your opt-out {active.record_id} of {uses} is active and already covers this; "
                "nothing new was recorded.",
                code="optout_already_covered",
                detail={"record_id": active.record_id},
            )


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
    purpose, cleaned_categories, cleaned_media, territory = use_terms_clean(
        purpose=purpose,
        categories=categories,
        media_types=media_types,
        territory=territory,
        valid_from=valid_from,
        valid_until=valid_until,
    )
    salt = _terms_salt(record_id)
    valid_from = whole_ms(valid_from) if valid_from else None
    valid_until = whole_ms(valid_until) if valid_until else None
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


def organisation_verification_record(
    *, organisation: Organisation, actor: User | None = None
) -> Record:
    """An operator verified the organisation: a signed record naming it by its slug alone.

    It is about an organisation, so it has no subject commitment and no person; who verified it
    is kept in the registry's audit trail, not in the log.
    """
    record_id, issued_at = _draft_identity(None, None)
    payload = {
        "format": RECORD_FORMAT,
        "kind": RecordKind.ORGANISATION_VERIFICATION.value,
        "record_id": record_id,
        "organisation": organisation.slug,
        "organisation_kind": organisation.kind,
        "issued_at": iso_ms(issued_at),
    }
    return registry_record_append(
        kind=RecordKind.ORGANISATION_VERIFICATION, payload=payload, organisation=organisation
    )


def registry_record_append(
    *, kind: str, payload: dict, organisation: Organisation | None = None
) -> Record:
    """Append a record the registry makes about no one person (an organisation's verification,
    a dispute's resolution) and mirror it; ``payload`` carries its ``record_id`` and
    ``issued_at``."""
    with transaction.atomic():
        entry = log_append(payload=payload)
        return Record.objects.create(
            record_id=payload["record_id"],
            kind=kind,
            person=None,
            subject="",
            organisation=organisation,
            log_entry=entry,
            created_at=datetime.fromisoformat(payload["issued_at"]),
        )


# First key of pg_advisory_xact_lock(int, int) for a person's opt-out flag (second: the person).
_OPTOUT_FLAG_LOCK = 6006


def _person_optouts_lock(*, person_id: int) -> None:
    """The per-person transaction lock of opt-out decisions (see templates_optout_sync); also
    serialises two opt-outs of one person, so neither can slip past the other's coverage test."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, (%s %% 2147483647)::int)",
            [_OPTOUT_FLAG_LOCK, person_id],
        )


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
        _person_optouts_lock(person_id=person_id)
        opted_out = person_has_active_optout(person_id=person_id)
        registry_services.templates_optout_flag_set(person_id=person_id, opted_out=opted_out)
    return opted_out


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
