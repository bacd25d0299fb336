"""An organisation with an owner, a member, a key and an invitation, and an outsider who owns
another organisation: the callers of every organisation page's permission test."""

from __future__ import annotations

from dataclasses import dataclass

from registry.models import ApiKey, Invitation, Membership, Organisation, User
from registry.services import (
    api_key_create,
    membership_add,
    membership_invite,
    organisation_create,
)

PASSWORD = "correct horse battery staple"


@dataclass
class OrgWorld:
    organisation: Organisation
    owner: User
    member: User
    outsider: User
    other: Organisation
    key: ApiKey
    member_membership: Membership
    invitation: Invitation

    def user(self, caller: str) -> User | None:
        return {"owner": self.owner, "member": self.member, "outsider": self.outsider}.get(caller)


def make_user(email: str) -> User:
    return User.objects.create_user(email, password=PASSWORD)


def org_world(kind: str = "platform") -> OrgWorld:
    owner = make_user("owner@example.org")
    member = make_user("member@example.org")
    outsider = make_user("outsider@example.org")
    organisation = organisation_create(name="Acme Video", kind=kind, owner=owner)
    other = organisation_create(name="Other Platform", kind="platform", owner=outsider)
    member_membership = membership_add(
        organisation=organisation, user=member, role="member", actor=owner
    )
    key, _secret = api_key_create(
        organisation=organisation, name="upload", scopes=["checks:write"], created_by=owner
    )
    invitation, _link = membership_invite(
        organisation=organisation, email="newcomer@example.org", role="member", invited_by=owner
    )
    return OrgWorld(
        organisation=organisation,
        owner=owner,
        member=member,
        outsider=outsider,
        other=other,
        key=key,
        member_membership=member_membership,
        invitation=invitation,
    )


def client_as(client, world: OrgWorld, caller: str):
    user = world.user(caller)
    if user is not None:
        client.force_login(user)
    return client
