"""Every write of the registry app, one module per responsibility:

- ``audit``: ``audit_record``, the security audit trail every other module writes to;
- ``organisations``: organisations, their memberships and suspension;
- ``members``: invitations by email, roles and removal (an organisation keeps an owner);
- ``api_keys``: organisation API keys and personal tokens (create, revoke);
- ``people``: people's accounts: sign-up, email verification, the assurance level, profile
  changes, suspension;
- ``templates``: a person's face templates: delete, confirm, the opt-out flag, re-keying.

Callers import the names from here (``from registry import services``). Workflows that span a
person's whole record across apps (enrollment, attestation, erasure, export, retention) live
above the apps, in ``lifecycle.services``.
"""

from registry.services.api_keys import (
    api_key_create,
    api_key_revoke,
    api_key_revoke_for,
    api_key_rotate,
)
from registry.services.audit import audit_record
from registry.services.members import (
    invitation_accept,
    invitation_cancel,
    invitation_for_token,
    membership_invite,
    membership_remove,
    membership_role_set,
)
from registry.services.organisations import (
    membership_add,
    organisation_create,
    organisation_create_for_email,
    organisation_policy_set,
    organisation_suspend,
)
from registry.services.people import (
    assurance_refresh,
    email_verification_send,
    email_verify,
    person_create,
    person_suspend,
    person_update,
)
from registry.services.templates import (
    template_delete,
    templates_confirm,
    templates_optout_flag_set,
    templates_rekey,
)

__all__ = [
    "api_key_create",
    "api_key_revoke",
    "api_key_revoke_for",
    "api_key_rotate",
    "assurance_refresh",
    "audit_record",
    "email_verification_send",
    "email_verify",
    "invitation_accept",
    "invitation_cancel",
    "invitation_for_token",
    "membership_add",
    "membership_invite",
    "membership_remove",
    "membership_role_set",
    "organisation_create",
    "organisation_create_for_email",
    "organisation_policy_set",
    "organisation_suspend",
    "person_create",
    "person_suspend",
    "person_update",
    "template_delete",
    "templates_confirm",
    "templates_optout_flag_set",
    "templates_rekey",
]
