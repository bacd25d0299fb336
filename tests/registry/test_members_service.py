"""The membership services behind the organisation pages: invitations keep only a hash of their
token and name no address in the audit trail; accepting is once, by the invited address; a key
rotated keeps its name, scopes and expiry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from registry import services
from registry.lib.errors import NotFound, PermissionDeniedError, ValidationFailed
from registry.models import AuditEvent, Invitation, Membership
from tests.registry.org_world import make_user, org_world

pytestmark = pytest.mark.django_db


def test_an_invitation_stores_no_token_and_audits_no_address():
    world = org_world()
    invitation, link = services.membership_invite(
        organisation=world.organisation,
        email="Someone@Example.org",
        role="owner",
        invited_by=world.owner,
        site_url="https://registry.example",
    )
    token = link.rstrip("/").rsplit("/", 1)[1]
    assert link.startswith("https://registry.example/invitations/")
    assert invitation.email == "someone@example.org"
    assert token.encode() not in bytes(invitation.token_hash)
    for event in AuditEvent.objects.all():
        assert "example.org" not in str(event.metadata) + event.target_id


def test_accepting_is_once_and_by_the_invited_address_only():
    world = org_world()
    _invitation, link = services.membership_invite(
        organisation=world.organisation, email="joiner@example.org", role="member",
        invited_by=world.owner,
    )  # fmt: skip
    token = link.rstrip("/").rsplit("/", 1)[1]
    with pytest.raises(PermissionDeniedError):
        services.invitation_accept(token=token, user=world.outsider)
    joiner = make_user("JOINER@example.org".lower())
    membership = services.invitation_accept(token=token, user=joiner)
    assert membership.role == "member"
    with pytest.raises(NotFound):
        services.invitation_accept(token=token, user=joiner)
    assert Invitation.objects.get(email="joiner@example.org").accepted_at is not None


def test_an_unknown_role_is_refused():
    world = org_world()
    with pytest.raises(ValidationFailed):
        services.membership_invite(
            organisation=world.organisation, email="x@example.org", role="admin",
            invited_by=world.owner,
        )  # fmt: skip
    with pytest.raises(ValidationFailed):
        services.membership_role_set(
            membership=world.member_membership, role="admin", actor=world.owner
        )
    assert Membership.objects.get(pk=world.member_membership.pk).role == "member"


def test_a_rotated_key_keeps_its_name_scopes_and_expiry():
    world = org_world()
    expires = timezone.now() + timedelta(days=30)
    key, _ = services.api_key_create(
        organisation=world.organisation, name="ci", scopes=["checks:read", "checks:write"],
        created_by=world.owner, expires_at=expires,
    )  # fmt: skip
    new, plaintext = services.api_key_rotate(key=key, actor=world.owner)
    key.refresh_from_db()
    assert key.revoked_at is not None and new.revoked_at is None
    assert (new.name, new.scopes, new.expires_at) == ("ci", key.scopes, expires)
    assert plaintext.startswith(f"lr_{new.prefix}_")
