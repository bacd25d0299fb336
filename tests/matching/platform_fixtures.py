"""Shared set-up for the platform workspace tests: checks made without the face engine.

Most history, filter and review tests need stored checks, not faces: ``stored_check`` writes one
as ``check_record`` would (with a real signed receipt), so these tests run in milliseconds.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from django.utils import timezone

from matching.models import Check, CheckKind, CheckSource, CheckStatus
from matching.services import check_receipt
from registry.models import ApiKey, Organisation, User

NEEDS_REVIEW_FACE = {
    "box": [40, 140, 140, 40],
    "match": "possible",
    "distance": 0.5312,
    "verdict": "needs_review",
    "reference": "ref_0123456789abcdef0123456789abcdef",
    "optout": {"categories": ["all"]},
    "consent": {"status": "not_consented", "grant_record_id": None},
}
CLEAR_FACE = {
    "box": [10, 60, 60, 10],
    "match": "none",
    "distance": None,
    "verdict": "clear",
    "reference": None,
    "optout": None,
    "consent": None,
}


def stored_check(
    organisation: Organisation,
    *,
    verdict: str = "clear",
    faces: list[dict] | None = None,
    created_at: datetime | None = None,
    api_key: ApiKey | None = None,
    submitted_by: User | None = None,
    source: str = CheckSource.API,
) -> Check:
    faces = [CLEAR_FACE] if faces is None else faces
    check_id = uuid.uuid4()
    created_at = created_at or timezone.now()
    receipt = check_receipt(
        check_id=check_id,
        organisation=organisation,
        media_sha256="ab" * 32,
        verdict=verdict,
        category="commercial",
        faces=len(faces),
    )
    return Check.objects.create(
        id=check_id,
        organisation=organisation,
        api_key=api_key,
        source=source,
        submitted_by=submitted_by,
        kind=CheckKind.IMAGE,
        status=CheckStatus.DONE,
        progress=100,
        category="commercial",
        media_sha256="ab" * 32,
        media_type="image/jpeg",
        verdict=verdict,
        faces=len(faces),
        result={
            "verdict": verdict,
            "category": "commercial",
            "faces_found": len(faces),
            "faces": faces,
            "media_sha256": "ab" * 32,
            "receipt": receipt,
        },
        created_at=created_at,
        started_at=created_at,
        finished_at=created_at,
    )
