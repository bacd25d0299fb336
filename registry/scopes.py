"""Every API scope, in one place.

Organisation API keys carry organisation scopes; personal tokens carry personal scopes. A key
holds only the scopes it was created with (least privilege), with one exception: every
organisation key may see its own organisation (``organisation:read``), since a key that cannot
tell which organisation it acts for is of no use to anyone.

Managing an organisation (creating one, its members, its keys) is never done with a key: those
scopes are held only by signed-in sessions (``SESSION_ONLY_SCOPES``), so no key, organisation
or personal, can be created with them, and a leaked key cannot mint more keys.
"""

from __future__ import annotations

CHECKS_WRITE = "checks:write"
CHECKS_READ = "checks:read"
CONSENT_READ = "consent:read"
CONSENT_WRITE = "consent:write"
CONSENT_REQUEST = "consent:request"
WEBHOOKS_MANAGE = "webhooks:manage"
ATTEST_WRITE = "attest:write"
PROFILE_READ = "profile:read"
PROFILE_WRITE = "profile:write"
ORGANISATION_READ = "organisation:read"
ORGANISATION_CREATE = "organisation:create"
MEMBERS_READ = "members:read"
ORGANISATION_MANAGE = "organisation:manage"

# Scopes an organisation API key may be created with.
ORGANISATION_SCOPES: dict[str, str] = {
    CHECKS_WRITE: "Submit media checks",
    CHECKS_READ: "Read the organisation's check results",
    CONSENT_READ: "Read consent records that concern the organisation",
    CONSENT_WRITE: "Record consent on behalf of the organisation",
    CONSENT_REQUEST: "Ask people for consent",
    WEBHOOKS_MANAGE: "Manage the organisation's webhooks",
    ATTEST_WRITE: "Record identity attestations (verifier organisations)",
}

# Scopes a personal token may be created with.
PERSONAL_SCOPES: dict[str, str] = {
    PROFILE_READ: "Read your own registry data",
    PROFILE_WRITE: "Change your own registry data (photos, settings)",
    CONSENT_READ: "Read your own consent records",
    CONSENT_WRITE: "Record or revoke your own consent decisions",
}

# Held by credentials without being granted at creation; never assignable to a key.
IMPLIED_SCOPES: dict[str, str] = {
    ORGANISATION_READ: "See the organisations this credential belongs to "
    "(every organisation key, every signed-in member)",
}
SESSION_ONLY_SCOPES: dict[str, str] = {
    ORGANISATION_CREATE: "Create an organisation (signed-in people only)",
    MEMBERS_READ: "See the members and API keys of organisations you belong to "
    "(signed-in members only)",
    ORGANISATION_MANAGE: "Add members, create and revoke API keys (signed-in owners only)",
}

ALL_SCOPES: dict[str, str] = {
    **ORGANISATION_SCOPES,
    **PERSONAL_SCOPES,
    **IMPLIED_SCOPES,
    **SESSION_ONLY_SCOPES,
}

# Scopes every organisation API key holds besides the ones it was created with.
ORGANISATION_KEY_IMPLIED_SCOPES = frozenset({ORGANISATION_READ})
# Scopes a signed-in browser user holds for their own data and account (sessions are not scoped
# tokens). Organisation views still answer 404 for organisations the user is not a member of.
SESSION_PERSONAL_SCOPES = frozenset(PERSONAL_SCOPES) | {
    ORGANISATION_READ,
    ORGANISATION_CREATE,
    MEMBERS_READ,
}
# Scopes a session user holds for an organisation they belong to, by role.
SESSION_ORGANISATION_SCOPES = {
    "owner": frozenset(ORGANISATION_SCOPES) | {ORGANISATION_MANAGE},
    "member": frozenset(ORGANISATION_SCOPES) - {WEBHOOKS_MANAGE},
}


class AnyOf(frozenset):
    """A requirement met by holding any one of these scopes, e.g. reading a check's result with
    ``checks:read`` or with the ``checks:write`` that submitted it."""

    def __repr__(self) -> str:
        return " or ".join(sorted(self))


def any_of(*names: str) -> AnyOf:
    return AnyOf(names)
