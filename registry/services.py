"""Every write of the registry app: organisations, API keys, people's accounts, face templates.

Workflows that span a person's whole record across apps (enrollment, attestation, erasure,
export, retention) live above the apps, in ``lifecycle.services``.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from django.utils.text import slugify

from registry import scopes as scope_names
from registry.authentication import KEY_PREFIX, hash_secret
from registry.lib.errors import Conflict, NotFound, PermissionDeniedError, ValidationFailed
from registry.lib.template_protection import reprotect
from registry.models import (
    ApiKey,
    AssuranceLevel,
    AuditEvent,
    FaceTemplate,
    Membership,
    MembershipRole,
    Organisation,
    OrganisationKind,
    Person,
    User,
)
from registry.selectors import current_template_key_version, template_key

logger = logging.getLogger(__name__)

__all__ = [
    "api_key_create",
    "api_key_revoke",
    "audit_record",
    "current_template_key_version",
    "membership_add",
    "organisation_create",
    "template_key",
]


def audit_record(
    *,
    action: str,
    actor: User | None = None,
    target: Any = None,
    metadata: dict[str, Any] | None = None,
) -> AuditEvent:
    """Record a security-relevant action. Ids only: never names, emails or biometrics."""
    actor = actor if isinstance(actor, User) else None
    return AuditEvent.objects.create(
        actor=actor,
        action=action,
        target_type=type(target).__name__.lower() if target is not None else "",
        target_id=str(getattr(target, "public_id", None) or getattr(target, "pk", "") or "")
        if target is not None
        else "",
        metadata=metadata or {},
    )


# --- Organisations ----------------------------------------------------------------------------


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


# --- API keys ---------------------------------------------------------------------------------


def _check_scopes(scopes: Iterable[str], *, allowed: dict[str, str]) -> list[str]:
    scopes = sorted(set(scopes))
    unknown = [s for s in scopes if s not in allowed]
    if unknown:
        raise ValidationFailed(
            f"Unknown or not allowed scope(s): {', '.join(unknown)}.",
            detail={"scopes": unknown, "allowed": sorted(allowed)},
        )
    if not scopes:
        raise ValidationFailed("A key needs at least one scope.", detail={"scopes": "required"})
    return scopes


@transaction.atomic
def api_key_create(
    *,
    organisation: Organisation | None = None,
    user: User | None = None,
    name: str,
    scopes: Iterable[str],
    created_by: User | None,
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Create an organisation API key or a personal token; the plaintext is returned only here."""
    if (organisation is None) == (user is None):
        raise ValidationFailed("A key belongs to exactly one organisation or one user.")
    allowed = scope_names.ORGANISATION_SCOPES if organisation else scope_names.PERSONAL_SCOPES
    checked = _check_scopes(scopes, allowed=allowed)
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationFailed("The expiry date must be in the future.")
    secret = secrets.token_urlsafe(32)
    while True:
        prefix = secrets.token_hex(6)
        if not ApiKey.objects.filter(prefix=prefix).exists():
            break
    key = ApiKey.objects.create(
        organisation=organisation,
        user=user,
        name=(name or "key").strip()[:100],
        prefix=prefix,
        secret_hash=hash_secret(secret),
        scopes=checked,
        created_by=created_by,
        expires_at=expires_at,
    )
    audit_record(
        action="api_key.create",
        actor=created_by,
        target=key,
        metadata={"scopes": checked, "organisation": organisation.pk if organisation else None},
    )
    return key, f"{KEY_PREFIX}_{prefix}_{secret}"


def api_key_revoke(*, key: ApiKey, actor: User | None) -> ApiKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit_record(action="api_key.revoke", actor=actor, target=key)
    return key


def api_key_revoke_for(*, key_id: int, actor: User) -> ApiKey:
    """Revoke a key the actor controls: their own token, or a key of an organisation they own."""
    key = ApiKey.objects.filter(pk=key_id).first()
    if key is None:
        raise NotFound("No such key.")
    if key.user_id is not None and key.user_id != actor.pk:
        raise NotFound("No such key.")
    if key.organisation_id is not None:
        role = (
            Membership.objects.filter(organisation_id=key.organisation_id, user=actor)
            .values_list("role", flat=True)
            .first()
        )
        if role is None:
            raise NotFound("No such key.")
        if role != MembershipRole.OWNER:
            raise PermissionDeniedError("Only an owner can revoke the organisation's keys.")
    return api_key_revoke(key=key, actor=actor)


# --- People -----------------------------------------------------------------------------------


class _EmailVerificationTokens(PasswordResetTokenGenerator):
    """One-time email verification links: the hash covers ``email_verified_at``, so a link stops
    working once used, and the email, so it stops working if the address changes."""

    key_salt = "registry.services.email_verification"

    def _make_hash_value(self, user, timestamp):
        verified = "" if user.email_verified_at is None else user.email_verified_at.isoformat()
        return f"{user.pk}{user.email}{verified}{timestamp}"


email_verification_tokens = _EmailVerificationTokens()


def _validate_password(password: str, user: User) -> None:
    try:
        password_validation.validate_password(password, user)
    except DjangoValidationError as exc:
        raise ValidationFailed(
            "password: " + " ".join(exc.messages), detail={"password": exc.messages}
        ) from None


@transaction.atomic
def person_create(*, email: str, display_name: str, password: str | None = None) -> Person:
    """A login account and its person. Without a password the account cannot sign in until a
    password is set (people created by operators with ``manage.py enroll``)."""
    email = User.objects.normalize_email((email or "").strip()).lower()
    try:
        validate_email(email)
    except DjangoValidationError:
        raise ValidationFailed(
            "email: Enter a valid email address.", detail={"email": "invalid"}
        ) from None
    display_name = (display_name or "").strip()
    if not display_name:
        raise ValidationFailed(
            "display_name: A name is required.", detail={"display_name": "required"}
        )
    if User.objects.filter(email__iexact=email).exists():
        raise Conflict(
            "An account with this email address already exists.", detail={"email": "taken"}
        )
    user = User(email=email)
    if password is not None:
        _validate_password(password, user)
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    person = Person.objects.create(user=user, display_name=display_name[:200])
    audit_record(action="person.create", actor=user, target=person)
    return person


def email_verification_send(*, user: User) -> str:
    """Email a one-time verification link; returns the link (for the console and tests)."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = email_verification_tokens.make_token(user)
    link = f"{settings.SITE_URL}{reverse('verify-email', args=[uid, token])}"
    send_mail(
        subject="Confirm your email address for the Likeness Registry",
        message=(
            "Open this link to confirm your email address:\n\n"
            f"{link}\n\nIf you did not sign up, ignore this message."
        ),
        from_email=None,
        recipient_list=[user.email],
    )
    return link


def email_verify(*, uid: str, token: str) -> User:
    """Mark the email verified from a link; a used, expired or forged link is a clear 400."""
    try:
        pk = int(force_str(urlsafe_base64_decode(uid)))
        user = User.objects.select_related("person").get(pk=pk)
    except (ValueError, TypeError, OverflowError, User.DoesNotExist):
        raise ValidationFailed(
            "This verification link is not valid.", code="invalid_link"
        ) from None
    if not email_verification_tokens.check_token(user, token):
        raise ValidationFailed(
            "This verification link is not valid, expired or was already used.",
            code="invalid_link",
        )
    with transaction.atomic():
        user.email_verified_at = timezone.now()
        user.save(update_fields=["email_verified_at"])
        person = getattr(user, "person", None)
        if person is not None:
            assurance_refresh(person=person)
    audit_record(action="email.verify", actor=user, target=person)
    return user


def assurance_refresh(*, person: Person) -> Person:
    """Recompute the assurance level from the facts: an unrevoked attestation by a verifier
    organisation, else a verified email, else self-asserted."""
    if person.attestations.filter(
        revoked_at__isnull=True, verifier__kind=OrganisationKind.VERIFIER
    ).exists():
        level = AssuranceLevel.VERIFIED
    elif person.user_id and person.user.email_verified_at is not None:
        level = AssuranceLevel.EMAIL_VERIFIED
    else:
        level = AssuranceLevel.SELF_ASSERTED
    if person.assurance != level:
        person.assurance = level
        person.save(update_fields=["assurance"])
    return person


def person_update(*, person: Person, display_name: str | None = None, keep_photos=None) -> Person:
    fields = []
    if display_name is not None:
        if not display_name.strip():
            raise ValidationFailed("display_name: A name is required.")
        person.display_name = display_name.strip()[:200]
        fields.append("display_name")
    if keep_photos is not None:
        person.keep_photos = bool(keep_photos)
        fields.append("keep_photos")
        if not person.keep_photos:
            # Choosing not to keep photos destroys the ones already kept.
            person.photos.all().delete()
    if fields:
        person.save(update_fields=fields)
    return person


def person_suspend(*, person: Person, actor: User | None, suspended: bool = True) -> Person:
    person.suspended_at = timezone.now() if suspended else None
    person.save(update_fields=["suspended_at"])
    audit_record(
        action="person.suspend" if suspended else "person.unsuspend", actor=actor, target=person
    )
    return person


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


def templates_optout_flag_set(*, person_id: int, opted_out: bool) -> int:
    """Set the ``opted_out`` flag on every template of the person; returns the rows changed.

    The consent app decides the value (``consent.services.templates_optout_sync``) under a
    per-person lock and calls this in the same transaction as the decision, so the flag commits
    with it: checks search only flagged templates (their partial HNSW index).
    """
    return (
        FaceTemplate.objects.filter(person_id=person_id)
        .exclude(opted_out=opted_out)
        .update(opted_out=opted_out)
    )


def template_delete(*, person: Person, template_id: int) -> None:
    """Remove one of the person's photos: its template and, if kept, the encrypted photo."""
    deleted, _ = FaceTemplate.objects.filter(person=person, pk=template_id).delete()
    if not deleted:
        raise NotFound("No such photo.")


def templates_confirm(*, person: Person) -> Person:
    """The person confirms their templates are still wanted: restarts the retention period."""
    person.templates_confirmed_at = timezone.now()
    person.retention_reminded_at = None
    person.save(update_fields=["templates_confirmed_at", "retention_reminded_at"])
    return person


# --- Template key rotation --------------------------------------------------------------------


def templates_rekey(*, to_version: int | None = None, batch_size: int = 500) -> dict[str, int]:
    """Re-protect every template with key ``to_version`` (default: the current one).

    Each row changes its vector and its ``key_version`` in one UPDATE, so at any moment every
    row is consistent with the version it names, and a search that rotates the query per version
    in use keeps finding everyone while the rotation runs: no downtime, no raw embedding ever
    leaves memory.
    """
    target = current_template_key_version() if to_version is None else int(to_version)
    new_key = template_key(target)
    moved = 0
    while True:
        with transaction.atomic():
            rows = list(
                FaceTemplate.objects.exclude(key_version=target)
                .select_for_update(skip_locked=True)
                .only("pk", "embedding", "key_version")[:batch_size]
            )
            if not rows:
                break
            for row in rows:
                row.embedding = reprotect(row.embedding, template_key(row.key_version), new_key)
                row.key_version = target
            FaceTemplate.objects.bulk_update(rows, ["embedding", "key_version"])
            moved += len(rows)
    remaining = FaceTemplate.objects.exclude(key_version=target).count()
    logger.info("template rekey to v%d moved=%d remaining=%d", target, moved, remaining)
    return {"version": target, "moved": moved, "remaining": remaining}
