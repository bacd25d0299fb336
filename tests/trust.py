"""Trust set-up for tests: verified organisations and people at a given assurance level.

New organisations start unverified and new people self-asserted, and neither consents (nor,
under the default policy, does a person below ``liveness`` block). A test about consent or
blocking says so with these, through the same service an operator uses.
"""

from __future__ import annotations

from django.utils import timezone

from lifecycle.services import organisation_verify
from registry.models import AssuranceLevel, Organisation, Person


def organisation_verified(organisation: Organisation) -> Organisation:
    """Verify ``organisation`` as an operator would (signed record, audit); updates it in place."""
    verified = organisation_verify(organisation=organisation, actor=None)
    organisation.verification = verified.verification
    organisation.verified_at = verified.verified_at
    return organisation


def person_assured(person: Person, level: str = AssuranceLevel.LIVENESS) -> Person:
    """Set the person's assurance level. ``liveness`` is recorded as a passed live capture (the
    evidence assurance_refresh reads), so a later refresh keeps it; ``verified`` normally comes
    from an attestation and is set directly here."""
    fields = {"assurance": level}
    if level == AssuranceLevel.LIVENESS:
        fields["liveness_passed_at"] = timezone.now()
    Person.objects.filter(pk=person.pk).update(**fields)
    for name, value in fields.items():
        setattr(person, name, value)
    return person
