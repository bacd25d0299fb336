"""One face, one owner: conflicts between registrations, and their resolution by an operator.

Every template a person stores goes through ``lifecycle.services.enrollment.face_template_store``
(photo upload, API, ``manage.py enroll``, re-enrolment, live capture), which calls
``face_conflict_check`` here: the new face is searched against every registered person's
templates (not only those who opted out), the person's own excepted, and decided with the same
rule as a check (``engine.decide`` with the number of registered people as candidates), so the
false-dispute rate stays low as the registry grows (``bench/disputes.py``). Only a ``match``
opens a dispute; the review band does not.

Who is *disputed* (``Dispute.disputed_party_id``): the newcomer when their enrollment found the
conflict, the reported registration when a person reported it from their page. A disputed
person's grants do not consent and their opt-outs ask for review rather than block (see
``consent.selectors.decisions`` and ``matching.services.decide``) until an operator resolves
the dispute; a higher assurance level wins nothing by itself. Neither side ever learns who the
other is.

Resolution (``dispute_resolve``): the losing registration's face templates (and kept photos)
are deleted and the person is suspended, so neither a check nor a consent check can reach it;
``distinct_people`` changes nothing and stops the pair from being disputed again. The decision
is a signed record in the log (commitments only) and an audit entry naming the operator.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from consent import services as consent_services
from matching.engine import get_engine
from matching.selectors import faces_nearest
from registry import services as registry_services
from registry.lib.errors import Conflict, RegistryError, ValidationFailed
from registry.lib.template_protection import unprotect
from registry.models import (
    AuditEvent,
    Dispute,
    DisputeOrigin,
    DisputeResolution,
    DisputeStatus,
    FaceTemplate,
    Person,
    RegistrationStatus,
    User,
)
from registry.selectors import template_key

logger = logging.getLogger(__name__)

# How many templates of other people one face's search returns (a person holds a handful).
CONFLICT_HITS = 20
# Reports a person may make per day: each one compares only their own enrolled face, and says
# only "opened" or "nothing matched", but a bound keeps it from ever being a search tool.
REPORTS_PER_DAY = 3
REPORT_WINDOW = timedelta(days=1)


@dataclass(frozen=True)
class FaceConflict:
    """Another registration that one face matches (kept to the server: never shown)."""

    person_id: int
    template_ids: list[int]


def registered_people_count(*, model_name: str, excluding: int | None = None) -> int:
    """How many people hold templates of ``model_name``: the haystack a new face is searched in
    (the verdict rule's ``candidates``)."""
    people = FaceTemplate.objects.filter(model_name=model_name)
    if excluding is not None:
        people = people.exclude(person_id=excluding)
    return people.values("person_id").distinct().count()


def face_conflict_find(
    *,
    person_id: int | None,
    vector: Any,
    model_name: str,
    face_px: int | None,
    face_quality: float | None,
) -> list[FaceConflict]:
    """The registrations other than ``person_id`` that the face matches: ``match`` class of the
    verdict rule at this registry's size.

    Each person is decided on their own: a check asks *who* a face is, and two people almost
    equally close make it unsure; here the question is whether the face is *also* someone's,
    and a face already registered twice must conflict with both.
    """
    engine = get_engine()
    if model_name != engine.name:
        return []  # the rule's calibration belongs to the active model
    own = FaceTemplate.objects.filter(person_id=person_id).count() if person_id else 0
    distances: dict[int, list[float]] = {}
    templates: dict[int, list[int]] = {}
    for hit in faces_nearest(
        embedding=np.asarray(vector, dtype=np.float32),
        limit=CONFLICT_HITS + own,
        person_ids=None,
        max_distance=engine.review_threshold,
        model_name=model_name,
    ):
        if hit.person_id == person_id:
            continue
        distances.setdefault(hit.person_id, []).append(hit.distance)
        templates.setdefault(hit.person_id, []).append(hit.template_id)
    if not distances:
        return []
    candidates = registered_people_count(model_name=model_name, excluding=person_id)
    conflicts = []
    for other, their_distances in sorted(distances.items()):
        decision = engine.decide(
            {other: their_distances},
            candidates=candidates,
            face_px=face_px,
            face_quality=face_quality,
        )
        if decision.match == "match":
            conflicts.append(FaceConflict(person_id=other, template_ids=templates[other]))
    return conflicts


def face_conflict_check(*, person: Person, face: Any, template: FaceTemplate) -> list[Dispute]:
    """Search a newly stored template's face against everyone else; for each match, open an
    ``enrollment_conflict`` dispute (unless one already stands between the two) and mark the
    person's registration disputed. Returns the disputes opened. Call inside the transaction
    that stores the template."""
    conflicts = face_conflict_find(
        person_id=person.pk,
        vector=face.vector,
        model_name=face.model_name,
        face_px=int(face.quality.size_px),
        face_quality=float(face.quality.score),
    )
    opened = []
    for conflict in conflicts:
        dispute = dispute_open(
            newcomer=person,
            existing_id=conflict.person_id,
            origin=DisputeOrigin.ENROLLMENT_CONFLICT,
            newcomer_template_ids=[template.pk],
            existing_template_ids=conflict.template_ids,
        )
        if dispute is not None:
            opened.append(dispute)
    return opened


def _pair_lock(first: int, second: int) -> None:
    # One transaction at a time decides whether a pair's dispute exists: an advisory lock on
    # the pair, since locking the other person's row could deadlock with their own enrollment.
    low, high = sorted((first, second))
    digest = hashlib.sha256(f"dispute:{low}:{high}".encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def _pair(first: int, second: int) -> Q:
    return Q(newcomer_id=first, existing_id=second) | Q(newcomer_id=second, existing_id=first)


@transaction.atomic
def dispute_open(
    *,
    newcomer: Person,
    existing_id: int,
    origin: str,
    newcomer_template_ids: list[int],
    existing_template_ids: list[int],
) -> Dispute | None:
    """Open a dispute between two registrations; None when one is already open between them
    (either way round) or an operator found them to be different people: idempotent."""
    _pair_lock(newcomer.pk, existing_id)
    standing = Dispute.objects.filter(_pair(newcomer.pk, existing_id)).filter(
        Q(status=DisputeStatus.OPEN) | Q(resolution=DisputeResolution.DISTINCT_PEOPLE)
    )
    if standing.exists():
        return None
    dispute = Dispute.objects.create(
        newcomer=newcomer,
        existing_id=existing_id,
        origin=origin,
        newcomer_template_ids=sorted(newcomer_template_ids),
        existing_template_ids=sorted(existing_template_ids),
    )
    person_status_refresh(person_id=dispute.disputed_party_id)
    registry_services.audit_record(
        action="dispute.open", target=dispute, metadata={"origin": origin}
    )
    logger.info("dispute opened id=%s origin=%s", dispute.public_id, origin)
    return dispute


def person_status_refresh(*, person_id: int | None) -> str | None:
    """Set the person's registration status from their open disputes; returns it."""
    if person_id is None:
        return None
    in_question = Dispute.objects.filter(status=DisputeStatus.OPEN).filter(
        Q(origin=DisputeOrigin.ENROLLMENT_CONFLICT, newcomer_id=person_id)
        | Q(origin=DisputeOrigin.REPORTED, existing_id=person_id)
    )
    status = RegistrationStatus.DISPUTED if in_question.exists() else RegistrationStatus.ACTIVE
    Person.objects.filter(pk=person_id).exclude(registration_status=status).update(
        registration_status=status
    )
    return status


def person_open_disputes_count(*, person_id: int) -> int:
    """How many open disputes the person is a party to (either side): a count, nothing more."""
    return (
        Dispute.objects.filter(status=DisputeStatus.OPEN)
        .filter(Q(newcomer_id=person_id) | Q(existing_id=person_id))
        .count()
    )


@dataclass(frozen=True)
class ReportOutcome:
    opened: int  # disputes opened by this report
    already_open: bool  # a dispute about the same face was already open (or decided)

    @property
    def message(self) -> str:
        if self.opened:
            return (
                "We opened a dispute: another registration holds a face that matches yours. "
                "An operator will review it; we will not tell either of you who the other is."
            )
        if self.already_open:
            return "A dispute about your face is already with an operator."
        return "No other registration matched your face."


def face_report(*, person: Person) -> ReportOutcome:
    """ "Someone else registered my face": search the person's own enrolled templates against
    everyone else's with the enrollment rule and open a ``reported`` dispute with each match.

    Only the reporter's stored face is compared, never an uploaded one, and the answer is only
    whether a dispute was opened; at most ``REPORTS_PER_DAY`` reports a day.
    """
    since = timezone.now() - REPORT_WINDOW
    recent = AuditEvent.objects.filter(
        action="dispute.report",
        target_type="person",
        target_id=person.public_id,
        created_at__gte=since,
    ).count()
    if recent >= REPORTS_PER_DAY:
        raise RegistryError(
            f"You can report at most {REPORTS_PER_DAY} times a day; please try again tomorrow.",
            code="report_limit",
            status_code=429,
        )
    engine = get_engine()
    templates = list(person.templates.filter(model_name=engine.name))
    if not templates:
        raise ValidationFailed(
            "Add photos of your face first: a report compares your own photos with the registry.",
            code="no_templates",
        )
    conflicts: dict[int, set[int]] = {}
    mine: dict[int, set[int]] = {}
    for template in templates:
        for conflict in face_conflict_find(
            person_id=person.pk,
            vector=unprotect(template.embedding, template_key(template.key_version)),
            model_name=template.model_name,
            face_px=template.face_px,
            face_quality=template.quality,
        ):
            conflicts.setdefault(conflict.person_id, set()).update(conflict.template_ids)
            mine.setdefault(conflict.person_id, set()).add(template.pk)
    opened = 0
    with transaction.atomic():
        for other_id, their_templates in sorted(conflicts.items()):
            dispute = dispute_open(
                newcomer=person,
                existing_id=other_id,
                origin=DisputeOrigin.REPORTED,
                newcomer_template_ids=sorted(mine[other_id]),
                existing_template_ids=sorted(their_templates),
            )
            opened += dispute is not None
        registry_services.audit_record(
            action="dispute.report", target=person, metadata={"opened": opened}
        )
    return ReportOutcome(opened=opened, already_open=bool(conflicts) and not opened)


_LOSERS = {
    DisputeResolution.NEWCOMER_OWNS: ("existing",),
    DisputeResolution.EXISTING_OWNS: ("newcomer",),
    DisputeResolution.BOTH_REMOVED: ("newcomer", "existing"),
    DisputeResolution.DISTINCT_PEOPLE: (),
}


@transaction.atomic
def dispute_resolve(
    *, dispute: Dispute, resolution: str, note: str = "", actor: User | None
) -> Dispute:
    """An operator's decision: log a signed record, audit it, remove the loser's face.

    The losing registration (both for ``both_removed``) loses its face templates and kept photos
    and is suspended (an operator can lift that in the admin); ``distinct_people`` keeps both
    and the pair is not disputed again. Each side's status is then recomputed from the
    disputes still open. Refused for an unknown resolution or a dispute already resolved.
    """
    if resolution not in _LOSERS:
        raise ValidationFailed(
            f"Unknown resolution {resolution!r}; use one of {', '.join(DisputeResolution.values)}.",
            detail={"resolution": "invalid"},
        )
    locked = (
        Dispute.objects.select_for_update(of=("self",))
        .select_related("newcomer", "existing")
        .get(pk=dispute.pk)
    )
    if locked.status != DisputeStatus.OPEN:
        raise Conflict("This dispute is already resolved.", code="dispute_resolved")
    record = consent_services.dispute_resolution_record(dispute=locked, resolution=resolution)
    for side in _LOSERS[resolution]:
        loser = getattr(locked, side)
        if loser is None:  # erased meanwhile
            continue
        removed, _ = FaceTemplate.objects.filter(person=loser).delete()
        registry_services.person_suspend(person=loser, actor=actor)
        registry_services.audit_record(
            action="dispute.templates_remove",
            actor=actor,
            target=loser,
            metadata={"dispute": locked.public_id, "removed": removed},
        )
    locked.status = DisputeStatus.RESOLVED
    locked.resolution = resolution
    locked.resolved_by = actor if isinstance(actor, User) else None
    locked.resolved_at = record.created_at
    locked.note = note.strip()
    locked.record = record
    locked.save(
        update_fields=["status", "resolution", "resolved_by", "resolved_at", "note", "record"]
    )
    person_status_refresh(person_id=locked.newcomer_id)
    person_status_refresh(person_id=locked.existing_id)
    registry_services.audit_record(
        action="dispute.resolve",
        actor=actor,
        target=locked,
        metadata={"record": record.record_id, "resolution": resolution},
    )
    return locked
