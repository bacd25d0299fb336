"""Every write of the registry app: people, organisations, API keys, enrollment, erasure."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from registry import scopes as scope_names
from registry.authentication import KEY_PREFIX, hash_secret
from registry.lib.errors import NotFound, PermissionDeniedError, ValidationFailed
from registry.models import (
    ApiKey,
    AuditEvent,
    Membership,
    MembershipRole,
    Organisation,
    OrganisationKind,
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
