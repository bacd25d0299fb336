"""Operator enrollment: one roster entry (name, email, photos, opt-out) becomes a registered person.

Shared by ``manage.py enroll`` (one person from the command line) and ``manage.py enroll_batch``
(a JSON Lines roster), so both create or extend people the same way and print the same fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from consent.services import optout_record
from lifecycle.services.enrollment import EnrollmentResult, person_enroll
from registry.lib.errors import ValidationFailed
from registry.models import Person
from registry.services import person_create


class NothingEnrolled(ValidationFailed):
    """Every photo of a roster entry was rejected; ``result`` says why for each one."""

    code = "nothing_enrolled"

    def __init__(self, result: EnrollmentResult) -> None:
        reasons = "; ".join(f"{p.filename}: {p.reason}" for p in result.rejected)
        super().__init__(
            f"no photo accepted ({reasons})" if reasons else "no photo given",
            detail={"rejected": rejected_photos(result)},
        )
        self.result = result


@dataclass(frozen=True)
class RosterEntryResult:
    person: Person
    created: bool
    enrollment: EnrollmentResult
    optout_record_id: str | None

    def as_dict(self) -> dict[str, Any]:
        """The fields ``manage.py enroll`` prints, in its order."""
        return {
            "subject": self.person.public_id,
            "templates": self.enrollment.templates_total,
            "accepted": len(self.enrollment.accepted),
            "rejected": rejected_photos(self.enrollment),
            "created": self.created,
            "optout": self.optout_record_id,
            # "disputed" when a face matched another registration; a count, never who.
            "status": str(self.enrollment.status),
            "conflicts": self.enrollment.conflicts,
        }


def rejected_photos(result: EnrollmentResult) -> list[dict[str, str | None]]:
    return [{"file": p.filename, "reason": p.reason} for p in result.rejected]


def roster_entry_enroll(
    *,
    name: str,
    email: str,
    images: list[tuple[str, bytes]],
    optout: bool,
    require_accepted: bool = False,
) -> RosterEntryResult:
    """Create the person with ``email`` (or add to the one who has it), enroll ``images`` and,
    with ``optout``, record a general opt-out on the operator's authority.

    With ``require_accepted`` an entry whose photos are all rejected changes nothing and raises
    ``NothingEnrolled``: a roster line either registers a protected face or is left for the
    operator to fix and re-run, never half-done (an account with no face, or an opt-out that
    protects nothing). Without it the person and the opt-out are kept, as ``enroll`` always did.
    """
    email = email.strip().lower()
    with transaction.atomic():
        person = Person.objects.filter(user__email__iexact=email).first()
        created = person is None
        if created:
            person = person_create(email=email, display_name=name)
        enrollment = person_enroll(person=person, images=images)
        if require_accepted and not enrollment.accepted:
            raise NothingEnrolled(enrollment)
        optout_record_id = None
        if optout:
            record = optout_record(person=person, categories=None, actor=None)
            optout_record_id = record.record_id
    return RosterEntryResult(
        person=person,
        created=created,
        enrollment=enrollment,
        optout_record_id=optout_record_id,
    )
