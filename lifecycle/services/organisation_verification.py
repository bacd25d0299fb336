"""Organisation verification: an operator confirms an organisation is who its name says.

The registry keeps the state (``Organisation.verification``) and the audit trail (who
verified it); the consent app logs a signed record naming only the organisation's slug. Both
apps are needed, so the workflow lives here, above them.
"""

from __future__ import annotations

from django.db import transaction

from consent import services as consent_services
from registry import services as registry_services
from registry.lib.errors import Conflict
from registry.models import Organisation, OrganisationVerification, User


@transaction.atomic
def organisation_verify(*, organisation: Organisation, actor: User | None) -> Organisation:
    """Mark the organisation verified, log a signed record and audit it; idempotent.

    Refused when a verified organisation already holds the same name (in any case): the
    verified name is what people trust, so it can belong to one organisation only.
    """
    locked = Organisation.objects.select_for_update().get(pk=organisation.pk)
    if locked.verification == OrganisationVerification.VERIFIED:
        return locked
    if (
        Organisation.objects.filter(
            name__iexact=locked.name, verification=OrganisationVerification.VERIFIED
        )
        .exclude(pk=locked.pk)
        .exists()
    ):
        raise Conflict(
            f"A verified organisation is already called {locked.name!r}; rename this one first.",
            code="organisation_name_taken",
        )
    record = consent_services.organisation_verification_record(organisation=locked, actor=actor)
    locked.verification = OrganisationVerification.VERIFIED
    locked.verified_at = record.created_at
    locked.save(update_fields=["verification", "verified_at"])
    registry_services.audit_record(
        action="organisation.verify",
        actor=actor,
        target=locked,
        metadata={"record": record.record_id},
    )
    return locked
