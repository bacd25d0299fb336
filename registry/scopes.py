"""Every API scope, in one place.

Organisation API keys carry organisation scopes; personal tokens carry personal scopes. A key
holds only the scopes it was created with (least privilege): nothing is implied.
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

ORGANISATION_SCOPES: dict[str, str] = {
    CHECKS_WRITE: "Submit media checks",
    CHECKS_READ: "Read the organisation's check results",
    CONSENT_READ: "Read consent records that concern the organisation",
    CONSENT_WRITE: "Record consent on behalf of the organisation",
    CONSENT_REQUEST: "Ask people for consent",
    WEBHOOKS_MANAGE: "Manage the organisation's webhooks",
    ATTEST_WRITE: "Record identity attestations (verifier organisations)",
}

PERSONAL_SCOPES: dict[str, str] = {
    PROFILE_READ: "Read your own registry data",
    PROFILE_WRITE: "Change your own registry data (photos, settings)",
    CONSENT_READ: "Read your own consent records",
    CONSENT_WRITE: "Record or revoke your own consent decisions",
}

ALL_SCOPES: dict[str, str] = {**ORGANISATION_SCOPES, **PERSONAL_SCOPES}

# Scopes a signed-in browser user holds for their own data (sessions are not scoped tokens).
SESSION_PERSONAL_SCOPES = frozenset(PERSONAL_SCOPES)
# Scopes a session user holds for an organisation they belong to, by role.
SESSION_ORGANISATION_SCOPES = {
    "owner": frozenset(ORGANISATION_SCOPES),
    "member": frozenset(ORGANISATION_SCOPES) - {WEBHOOKS_MANAGE},
}
