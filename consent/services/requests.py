"""Consent requests: a studio asks one person for one described use; the person answers.

Approval logs a grant (``consent.services.records.grant_record``) with exactly the requested
terms: ``grant_draft`` and ``consent_request_approve`` both take them from ``_requested_terms``,
so a person's signature over the draft covers what is logged.

A request addressed by email never reveals whether the address belongs to someone registered:
it is stored, answered and mailed the same way for every address (no lookup of the address at
all, so not even the timing differs), and reaches a registered person through the verified
address of their account (``selectors.requests_waiting``). The studio learns who the person is
only when they approve, since the grant names them. A decline tells the studio the answer but
not who gave it: declining must not cost the person the privacy that not answering keeps, so a
declined email invitation stays unlinked from the person (and is no longer in their export).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from consent.lib.dates import whole_ms
from consent.lib.ids import new_id
from consent.lib.uses import use_terms_clean
from consent.models import ConsentRequest, Record
from consent.services.records import _grant_terms, _require_actor_is, grant_record
from registry.lib.errors import Conflict, NotFound, PermissionDeniedError, ValidationFailed
from registry.models import Organisation, OrganisationKind, Person, User


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
        record_id=new_id("rec"),
        issued_at=whole_ms(timezone.now()),
    )
    return payload


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
    site_url: str | None = None,
) -> ConsentRequest:
    """A studio asks a person (found by handle or public id, or invited by email) for one use.

    The answer never reveals whether an email address belongs to someone registered: the
    request looks the same either way and the person sees it once signed in. An invitation's
    link starts with ``site_url`` (the address the studio reached the site on), else ``SITE_URL``.
    """
    if organisation.kind not in (OrganisationKind.STUDIO, OrganisationKind.PLATFORM):
        raise PermissionDeniedError("Only studios and platforms ask for consent.")
    if (person is None) == (not email):
        raise ValidationFailed("Address the request to one person: a handle or an email.")
    purpose, cleaned_categories, cleaned_media, territory = use_terms_clean(
        purpose=purpose,
        categories=categories,
        media_types=media_types,
        territory=territory,
        valid_from=valid_from,
        valid_until=valid_until,
    )
    # Never looked up: the same work, rows and email whether or not the address is registered.
    invite_email = email.strip().lower() if email else ""
    with transaction.atomic():
        request = ConsentRequest.objects.create(
            request_id=new_id("creq"),
            organisation=organisation,
            requested_by=requested_by,
            person=None if invite_email else person,
            invite_email=invite_email,
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
                lambda: _send_invitation(
                    email=invite_email,
                    organisation_name=organisation.name,
                    site_url=site_url or settings.SITE_URL,
                ),
                robust=True,
            )
    return request


def _send_invitation(*, email: str, organisation_name: str, site_url: str) -> None:
    send_mail(
        subject=f"{organisation_name} asks for your consent on the Likeness Registry",
        message=(
            f"{organisation_name} asks for your consent to a use of your likeness.\n\n"
            f"Sign in (or sign up with this address) to read the request and approve or "
            f"decline it: {site_url}{reverse('consent-requests')}\n"
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
        # ``person`` is left as it was: set when the studio asked by handle (it knows whom it
        # asked), empty for an email invitation (the studio learns the answer, not who gave it).
        locked.invite_email = ""
        locked.status = ConsentRequest.Status.DECLINED
        locked.answered_at = timezone.now()
        locked.save(update_fields=["invite_email", "status", "answered_at"])
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
