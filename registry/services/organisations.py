"""Organisations: creation (with its first owner), memberships and suspension."""

from __future__ import annotations

import secrets

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from registry.lib.errors import ValidationFailed
from registry.models import (
    ASSURANCE_ORDER,
    Membership,
    MembershipRole,
    Organisation,
    OrganisationKind,
    User,
)
from registry.services.audit import audit_record
from registry.services.emails import email_normalised


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "org"
    slug = base
    while Organisation.objects.filter(slug=slug).exists():
        slug = f"{base}-{secrets.token_hex(3)}"
    return slug


@transaction.atomic
def organisation_create(*, name: str, kind: str, owner: User | None) -> Organisation:
    name = (name or "").strip()
    if not name:
        raise ValidationFailed("An organisation needs a name.", detail={"name": "required"})
    if kind not in OrganisationKind.values:
        raise ValidationFailed(
            f"Unknown organisation kind {kind!r}; use one of {', '.join(OrganisationKind.values)}.",
            detail={"kind": "invalid"},
        )
    organisation = Organisation.objects.create(name=name, kind=kind, slug=_unique_slug(name))
    if owner is not None:
        Membership.objects.create(organisation=organisation, user=owner, role=MembershipRole.OWNER)
    audit_record(action="organisation.create", actor=owner, target=organisation)
    return organisation


@transaction.atomic
def organisation_create_for_email(
    *, name: str, kind: str, owner_email: str
) -> tuple[Organisation, User, bool]:
    """An organisation created by an operator for an owner named by email address.

    The owner is the account with that address (compared case-insensitively, as sign-up and
    sign-in do) if there is one. Otherwise a login account is created for it with no usable
    password and no person: an organisation owner is not thereby enrolled in the registry, and
    signs in after setting a password. Returns the organisation, the owner and whether the
    account was created. Names need not be unique, as with ``organisation_create``: a second
    organisation of the same name gets its own slug.
    """
    email = email_normalised(owner_email)
    if email is None:
        raise ValidationFailed(
            f"owner email: {owner_email!r} is not a valid email address.",
            detail={"owner_email": "invalid"},
        )
    owner = User.objects.filter(email__iexact=email).first()
    created = owner is None
    if created:
        owner = User.objects.create_user(email)
    organisation = organisation_create(name=name, kind=kind, owner=owner)
    return organisation, owner, created


def membership_add(
    *, organisation: Organisation, user: User, role: str = MembershipRole.MEMBER, actor=None
) -> Membership:
    if role not in MembershipRole.values:
        raise ValidationFailed(f"Unknown role {role!r}.", detail={"role": "invalid"})
    try:
        with transaction.atomic():
            membership = Membership.objects.create(organisation=organisation, user=user, role=role)
    except IntegrityError:
        raise ValidationFailed("This user is already a member.") from None
    audit_record(action="membership.add", actor=actor, target=organisation, metadata={"role": role})
    return membership


def organisation_suspend(
    *, organisation: Organisation, actor: User | None, suspended: bool = True
) -> Organisation:
    organisation.suspended_at = timezone.now() if suspended else None
    organisation.save(update_fields=["suspended_at"])
    audit_record(
        action="organisation.suspend" if suspended else "organisation.unsuspend",
        actor=actor,
        target=organisation,
    )
    return organisation


def organisation_policy_set(
    *, organisation: Organisation, block_min_assurance: str, actor: User | None
) -> Organisation:
    """The lowest assurance level whose opt-out makes the organisation's checks ``blocked``;
    below it a match is ``needs_review``. Audited: a platform's choice to block on weaker
    registrations is the platform's, and on record."""
    if block_min_assurance not in ASSURANCE_ORDER:
        raise ValidationFailed(
            f"block_min_assurance: use one of {', '.join(ASSURANCE_ORDER)}.",
            detail={"block_min_assurance": "invalid", "allowed": list(ASSURANCE_ORDER)},
        )
    previous = organisation.block_min_assurance
    if previous != block_min_assurance:
        organisation.block_min_assurance = block_min_assurance
        organisation.save(update_fields=["block_min_assurance"])
        audit_record(
            action="organisation.policy",
            actor=actor,
            target=organisation,
            metadata={"block_min_assurance": [previous, block_min_assurance]},
        )
    return organisation
