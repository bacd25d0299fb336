"""Export: everything the registry holds about a person, as JSON-ready data (their copy).

``person_export`` gathers the registry's part (person, account, templates with their embeddings
and kept photos, attestations, memberships, tokens) and adds consent's part from
``consent.selectors.person_consent_export``; every time in both is ``consent.lib.dates.iso_utc``
(UTC, ISO 8601 with ``Z``).
"""

from __future__ import annotations

import base64
from typing import Any

from django.conf import settings
from django.utils import timezone

from consent import selectors as consent_selectors
from consent.lib.dates import iso_utc
from registry.lib.photo_crypto import PhotoDecryptionError, decrypt_photo
from registry.lib.template_protection import unprotect
from registry.models import Person, ReferencePhoto
from registry.selectors import person_dispute_notices, template_key


def person_export(*, person: Person) -> dict[str, Any]:
    """Everything the registry holds about the person, as JSON-ready data."""
    user = person.user
    photos = {photo.template_id: photo for photo in ReferencePhoto.objects.filter(person=person)}
    data: dict[str, Any] = {
        "format": "likeness-registry-export/1",
        "exported_at": iso_utc(timezone.now()),
        "person": {
            "subject": person.public_id,
            "display_name": person.display_name,
            "handle": person.handle,
            "assurance": person.assurance,
            "keep_photos": person.keep_photos,
            "templates_confirmed_at": iso_utc(person.templates_confirmed_at),
            "suspended_at": iso_utc(person.suspended_at),
            "registration_status": person.registration_status,
            "created_at": iso_utc(person.created_at),
        },
        "account": {
            "email": user.email if user else None,
            "email_verified_at": iso_utc(user.email_verified_at) if user else None,
            "date_joined": iso_utc(user.date_joined) if user else None,
            "last_login": iso_utc(user.last_login) if user else None,
        },
        "templates": [],
        "attestations": [
            {
                "verifier": a.verifier.name,
                "method": a.method,
                "attested_at": iso_utc(a.attested_at),
                "revoked_at": iso_utc(a.revoked_at),
            }
            for a in person.attestations.select_related("verifier").order_by("attested_at")
        ],
        "liveness_passed_at": iso_utc(person.liveness_passed_at),
        "liveness_attempts": [
            {
                "created_at": iso_utc(a.created_at),
                "challenge": a.challenge,
                "outcome": a.outcome,
                "reason": a.reason,
                "clip_sha256": a.clip_sha256,
            }
            for a in person.liveness_attempts.order_by("created_at")
        ],
        "organisations": [
            {"organisation": m.organisation.name, "role": m.role, "since": iso_utc(m.created_at)}
            for m in (user.memberships.select_related("organisation") if user else [])
        ],
        "personal_tokens": [
            {
                "name": k.name,
                "prefix": k.prefix,
                "scopes": k.scopes,
                "created_at": iso_utc(k.created_at),
                "last_used_at": iso_utc(k.last_used_at),
                "revoked_at": iso_utc(k.revoked_at),
            }
            for k in (user.personal_tokens.all() if user else [])
        ],
    }
    for template in person.templates.order_by("created_at"):
        entry = {
            "id": template.pk,
            "model_name": template.model_name,
            "model_version": template.model_version,
            "quality": template.quality,
            "face_px": template.face_px,
            "created_at": iso_utc(template.created_at),
            # The person's own biometric data, unprotected: it is theirs to take elsewhere.
            "embedding": [
                round(float(x), 6)
                for x in unprotect(template.embedding, template_key(template.key_version))
            ],
        }
        photo = photos.get(template.pk)
        if photo is not None:
            try:
                raw = decrypt_photo(
                    photo.ciphertext, key=settings.PHOTO_ENCRYPTION_KEY, owner=person.public_id
                )
                entry["photo"] = {
                    "content_type": photo.content_type,
                    "base64": base64.b64encode(raw).decode(),
                }
            except PhotoDecryptionError:
                entry["photo"] = {"error": "the kept photo could not be decrypted"}
        data["templates"].append(entry)
    # What the person's page says about their disputes: never who the other side is.
    data["disputes"] = [
        {
            "dispute": notice.public_id,
            "opened_at": iso_utc(notice.created_at),
            "open": notice.is_open,
            "about_this_registration": notice.in_question,
            "message": notice.message,
        }
        for notice in person_dispute_notices(person=person)
    ]
    data["consent"] = consent_selectors.person_consent_export(person=person)
    return data
