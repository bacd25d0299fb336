"""An organisation's members: invitations by email, accepting them, roles and removal.

An owner invites an address; the email carries a link with a one-time token (only its SHA-256
is stored). Whoever holds the link signs in, or signs up, with that address and joins with the
role the owner chose. An organisation always keeps at least one owner: the last one can be
neither demoted nor removed. Audit events name ids and roles, never addresses.
"""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from registry.lib.errors import NotFound, PermissionDeniedError, ValidationFailed
from registry.models import Invitation, Membership, MembershipRole, Organisation, User
from registry.services.audit import audit_record
from registry.services.emails import email_normalised
from registry.services.organisations import membership_add


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _check_role(role: str) -> None:
    if role not in MembershipRole.values:
        raise ValidationFailed(
            f"Unknown role {role!r}; use owner or member.", detail={"role": "invalid"}
        )


def invitation_for_token(*, token: str) -> Invitation:
    """The pending invitation a link names; a used, cancelled or forged link is a clear 404."""
    invitation = (
        Invitation.objects.select_related("organisation", "invited_by")
        .filter(token_hash=_token_hash(token or ""))
        .first()
    )
    if invitation is None or not invitation.is_pending:
        raise NotFound("This invitation link is not valid, was cancelled or was already used.")
    return invitation


def membership_invite(
    *,
    organisation: Organisation,
    email: str,
    role: str,
    invited_by: User,
    site_url: str | None = None,
) -> tuple[Invitation, str]:
    """Invite an address (a new one or an existing account's) and email it the link; returns
    the invitation and the link (for the console and tests)."""
    _check_role(role)
    email = email_normalised(email)
    if email is None:
        raise ValidationFailed("email: Enter a valid email address.", detail={"email": "invalid"})
    if Membership.objects.filter(organisation=organisation, user__email__iexact=email).exists():
        raise ValidationFailed(
            "This address already belongs to a member.", detail={"email": "member"}
        )
    token = secrets.token_urlsafe(32)
    try:
        with transaction.atomic():
            invitation = Invitation.objects.create(
                organisation=organisation,
                email=email,
                role=role,
                token_hash=_token_hash(token),
                invited_by=invited_by,
            )
    except IntegrityError:
        raise ValidationFailed(
            "This address already has an invitation waiting; cancel it to send a new one.",
            detail={"email": "invited"},
        ) from None
    link = f"{site_url or settings.SITE_URL}{reverse('org-invitation', args=[token])}"
    send_mail(
        subject=f"You are invited to join {organisation.name} on the Likeness Registry",
        message=(
            f"You are invited to join {organisation.name} as {role} on the Likeness Registry.\n\n"
            f"Open this link to accept (sign in, or sign up with this address first):\n\n"
            f"{link}\n\nIf you did not expect this invitation, ignore this message."
        ),
        from_email=None,
        recipient_list=[email],
    )
    audit_record(
        action="membership.invite", actor=invited_by, target=organisation, metadata={"role": role}
    )
    return invitation, link


@transaction.atomic
def invitation_accept(*, token: str, user: User) -> Membership:
    """Join the organisation with the invitation's role, as the account with its address."""
    invitation = invitation_for_token(token=token)
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if not invitation.is_pending:
        raise NotFound("This invitation link is not valid, was cancelled or was already used.")
    if user.email.lower() != invitation.email.lower():
        raise PermissionDeniedError(
            "This invitation was sent to another email address: sign in with that address "
            "to accept it."
        )
    existing = Membership.objects.filter(organisation=invitation.organisation, user=user).first()
    membership = existing or membership_add(
        organisation=invitation.organisation, user=user, role=invitation.role, actor=user
    )
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_at"])
    return membership


def invitation_cancel(*, invitation: Invitation, actor: User) -> Invitation:
    if invitation.is_pending:
        invitation.cancelled_at = timezone.now()
        invitation.save(update_fields=["cancelled_at"])
        audit_record(action="invitation.cancel", actor=actor, target=invitation.organisation)
    return invitation


def _other_owners(membership: Membership) -> int:
    # Locks the organisation's owner rows, so two owners demoting each other at once cannot
    # leave it with none.
    owners = list(
        Membership.objects.select_for_update()
        .filter(organisation_id=membership.organisation_id, role=MembershipRole.OWNER)
        .exclude(pk=membership.pk)
        .values_list("pk", flat=True)
    )
    return len(owners)


@transaction.atomic
def membership_role_set(*, membership: Membership, role: str, actor: User) -> Membership:
    _check_role(role)
    if membership.role == role:
        return membership
    if membership.role == MembershipRole.OWNER and not _other_owners(membership):
        raise ValidationFailed(
            "An organisation needs at least one owner: make someone else an owner first.",
            detail={"role": "last_owner"},
        )
    previous = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    audit_record(
        action="membership.role",
        actor=actor,
        target=membership.organisation,
        metadata={"membership": membership.pk, "role": [previous, role]},
    )
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, actor: User) -> None:
    if membership.role == MembershipRole.OWNER and not _other_owners(membership):
        raise ValidationFailed(
            "The last owner cannot be removed: make someone else an owner first.",
            detail={"membership": "last_owner"},
        )
    organisation = membership.organisation
    pk = membership.pk
    membership.delete()
    audit_record(
        action="membership.remove", actor=actor, target=organisation, metadata={"membership": pk}
    )
