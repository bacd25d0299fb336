"""Answers the registry signs: receipts for platform checks and logged studio consent checks.

``receipt_sign`` signs a high-volume answer without touching the log (no lock, one signature).
``consent_check`` decides one studio's use of one person's likeness, appends the decision to
the log and returns it with inclusion proofs for itself and for the record that decided it.
``person_checked_by`` remembers who checked whom, so opt-outs reach them by webhook.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from consent.lib import signing
from consent.lib.dates import iso_ms, whole_ms
from consent.lib.ids import new_id
from consent.lib.receipts import CHECK_RECEIPT_FORMAT, SIGNED_RECEIPT_FORMAT
from consent.lib.uses import category_check, media_type_check, territory_clean
from consent.models import ConsentCheck, PersonCheckedBy
from consent.selectors import consent_decision, logged_receipt, people_assurance
from consent.services.log import _private_key, log_append, signing_key_current, subject_commitment
from registry.lib.errors import ValidationFailed
from registry.models import ASSURANCE_ORDER, Organisation, Person


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
        "receipt_id": new_id("rct"),
        "issued_at": iso_ms(timezone.now()),
        "body": dict(body),
    }
    key = signing_key_current()
    signature = signing.signature_entry(key.kid, _private_key(key), payload)
    return {"payload": payload, "signatures": [signature]}


def consent_check(
    *,
    organisation: Organisation,
    person: Person,
    category: str,
    media_type: str | None = None,
    territory: str | None = None,
    at: datetime | None = None,
    min_assurance: str | None = None,
) -> tuple[ConsentCheck, dict[str, Any]]:
    """Decide whether the organisation may use the person's likeness this way, and log it.

    Returns the check row and its receipt (``logged_receipt``): the signed decision with its
    inclusion proof and the deciding record's, verifiable offline with ``keys.json``. Both
    carry the person's assurance level (``ConsentCheck.assurance``, ``"assurance"`` in the
    signed payload). ``min_assurance`` raises the level a grant must come from to consent
    (never below ``liveness``); a grant that does not qualify, or one to an organisation not
    yet verified, is answered not_consented with a ``reason`` in the payload.
    """
    category_check(category)
    if min_assurance is not None and min_assurance not in ASSURANCE_ORDER:
        raise ValidationFailed(
            f"Unknown assurance level {min_assurance!r}; use one of {', '.join(ASSURANCE_ORDER)}.",
            detail={"min_assurance": "invalid"},
        )
    if media_type is not None:
        media_type_check(media_type)
    if territory is not None:
        territory = territory_clean(territory)
    now = whole_ms(timezone.now())
    use_at = whole_ms(at) if at is not None else now
    with transaction.atomic():
        decision = consent_decision(
            person_id=person.pk,
            organisation_id=organisation.pk,
            category=category,
            media_type=media_type,
            territory=territory,
            at=use_at,
            lock=True,
            min_assurance=min_assurance,
        )
        assurance = people_assurance(person_ids=[person.pk]).get(person.pk, person.assurance)
        check_id = new_id("chk")
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
            "assurance": assurance,
        }
        if decision.reason is not None:
            payload["reason"] = decision.reason
        if min_assurance is not None:
            payload["min_assurance"] = min_assurance
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
            assurance=assurance,
            decided_by=decided_by,
            log_entry=entry,
            created_at=now,
        )
        person_checked_by(
            person_id=person.pk, organisation_id=organisation.pk, reference=person.public_id
        )
    related = [decided_by.log_entry] if decided_by else []
    return check, logged_receipt(entry=entry, related=related)
