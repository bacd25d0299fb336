"""A member's decision on a face that needs review: "not this person" or "treat as blocked".

The decision is about the organisation's own media and names nobody: the member sees the face's
box, its distance band, the use and the time, never who the face resembled.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from matching.models import Check, ReviewDecision, ReviewDecisionKind, Verdict
from registry.lib.errors import Conflict, NotFound, ValidationFailed
from registry.models import User


def review_decide(*, check: Check, face: int, decision: str, decided_by: User) -> ReviewDecision:
    """Record ``decided_by``'s decision on face ``face`` of ``check`` (once per face)."""
    if decision not in ReviewDecisionKind.values:
        raise ValidationFailed(
            f"decision: expected one of {', '.join(ReviewDecisionKind.values)}.",
            detail={"decision": "invalid"},
        )
    if check.detail_dropped_at is not None:
        raise Conflict(
            "This check is past its retention period: its faces are no longer kept, so they "
            "cannot be reviewed."
        )
    faces = (check.result or {}).get("faces", [])
    if not 0 <= face < len(faces):
        raise NotFound("This check has no such face.")
    if faces[face].get("verdict") != Verdict.NEEDS_REVIEW.value:
        raise Conflict("This face does not need review.")
    try:
        with transaction.atomic():
            return ReviewDecision.objects.create(
                media_check=check,
                face=face,
                decision=decision,
                decided_by=decided_by,
                decided_at=timezone.now(),
            )
    except IntegrityError:
        raise Conflict("This face was already decided.") from None
