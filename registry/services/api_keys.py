"""API keys: organisation keys and personal tokens, created with checked scopes and revoked by
whoever controls them. The plaintext secret exists only in ``api_key_create``'s return value."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from registry import scopes as scope_names
from registry.authentication import KEY_PREFIX, hash_secret
from registry.lib.errors import NotFound, PermissionDeniedError, ValidationFailed
from registry.models import ApiKey, MembershipRole, Organisation, User
from registry.selectors import membership_role
from registry.services.audit import audit_record


def _check_scopes(scopes: Iterable[str], *, allowed: dict[str, str]) -> list[str]:
    scopes = sorted(set(scopes))
    unknown = [s for s in scopes if s not in allowed]
    if unknown:
        # Say why a real scope is refused, so nobody retries it under another spelling.
        held_otherwise = [
            s
            for s in unknown
            if s in scope_names.SESSION_ONLY_SCOPES or s in scope_names.IMPLIED_SCOPES
        ]
        reason = (
            f" {', '.join(held_otherwise)}: held by signed-in sessions or implied, never granted"
            " to a key."
            if held_otherwise
            else ""
        )
        raise ValidationFailed(
            f"Unknown or not allowed scope(s): {', '.join(unknown)}.{reason}"
            f" Allowed: {', '.join(sorted(allowed))}.",
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
        role = membership_role(organisation=key.organisation_id, user=actor)
        if role is None:
            raise NotFound("No such key.")
        if role != MembershipRole.OWNER:
            raise PermissionDeniedError("Only an owner can revoke the organisation's keys.")
    return api_key_revoke(key=key, actor=actor)


@transaction.atomic
def api_key_rotate(*, key: ApiKey, actor: User | None) -> tuple[ApiKey, str]:
    """A new secret for the same purpose: a new key with the old one's name, scopes and expiry,
    and the old one revoked at once. Returns the new key and its plaintext (shown once)."""
    key = ApiKey.objects.select_for_update().get(pk=key.pk)
    if key.revoked_at is not None:
        raise ValidationFailed("This key is revoked; create a new one instead.")
    if key.expires_at is not None and key.expires_at <= timezone.now():
        raise ValidationFailed("This key has expired; create a new one instead.")
    new_key, plaintext = api_key_create(
        organisation=key.organisation,
        user=key.user,
        name=key.name,
        scopes=key.scopes,
        created_by=actor,
        expires_at=key.expires_at,
    )
    api_key_revoke(key=key, actor=actor)
    audit_record(action="api_key.rotate", actor=actor, target=new_key, metadata={"old": key.pk})
    return new_key, plaintext
