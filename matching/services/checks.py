"""Synchronous checks and the record every check leaves: image and embeddings checks, the
stored check with its matches, its signed receipt, reading a check back and its representation.

``image_check`` and ``embeddings_check`` turn media into faces (``media``), decide them
(``decide``) and finish with ``check_record``, which signs the receipt and stores the check for
the organisation's history (an organisation reads back every check it made, ``clear`` ones
too). Video jobs (``video``) store their result with the same ``check_matches_record`` and
``check_receipt``.
"""

from __future__ import annotations

import hashlib
import uuid
from contextlib import nullcontext
from typing import Any

from django.db import transaction
from django.utils import timezone

from consent import services as consent_services
from consent.lib.uses import category_check
from matching.lib.c2pa import c2pa_signal
from matching.lib.imaging import IMAGE_MIME_TYPES, sniff_image_type
from matching.models import Check, CheckKind, CheckMatch, CheckSource, CheckStatus, ReviewDecision
from matching.services.decide import faces_decide
from matching.services.media import embeddings_digest, embeddings_faces, image_faces
from registry.lib.errors import NotFound
from registry.models import ApiKey, Organisation, User

RECEIPT_KIND = "media_check"


def image_check(
    *,
    data: bytes,
    category: str,
    organisation: Organisation | None,
    api_key: ApiKey | None,
    submitted_by: User | None = None,
    source: str = CheckSource.API,
) -> dict[str, Any]:
    """A synchronous image check: the API representation with result and receipt.

    A photo without faces is a valid, clear result; unreadable, mistyped or oversized images
    raise the imaging errors (400/413/415) before any pixel is decoded.
    """
    category_check(category)
    image_type = sniff_image_type(data)
    faces = image_faces(data=data)
    decision = faces_decide(
        faces=faces, category=category, organisation=organisation, media_type="image"
    )
    return check_record(
        kind=CheckKind.IMAGE,
        organisation=organisation,
        api_key=api_key,
        category=category,
        media_sha256=hashlib.sha256(data).hexdigest(),
        media_type=IMAGE_MIME_TYPES.get(image_type or "", ""),
        decision=decision,
        extra={"c2pa": c2pa_signal(data)},
        submitted_by=submitted_by,
        source=source,
    )


def embeddings_check(
    *,
    category: Any,
    embeddings: Any,
    boxes: Any = None,
    organisation: Organisation | None,
    api_key: ApiKey | None,
    submitted_by: User | None = None,
    source: str = CheckSource.API,
) -> dict[str, Any]:
    """A synchronous check of embeddings the platform computed itself: the API representation.

    Takes the request's values as parsed from JSON and validates them here, the embeddings as one
    numpy array (a DRF field per number cost more than the search).
    """
    category_check(category)
    faces = embeddings_faces(embeddings=embeddings, boxes=boxes)
    decision = faces_decide(
        faces=faces, category=category, organisation=organisation, media_type="image"
    )
    return check_record(
        kind=CheckKind.EMBEDDINGS,
        organisation=organisation,
        api_key=api_key,
        category=category,
        media_sha256=embeddings_digest(faces),
        media_type="application/json",
        decision=decision,
        submitted_by=submitted_by,
        source=source,
    )


def check_record(
    *,
    kind: str,
    organisation: Organisation | None,
    api_key: ApiKey | None,
    category: str,
    media_sha256: str,
    media_type: str,
    decision: dict[str, Any],
    extra: dict[str, Any] | None = None,
    submitted_by: User | None = None,
    source: str = CheckSource.API,
) -> dict[str, Any]:
    """Finish a synchronous check: sign the receipt and store the check.

    Every check made for an organisation is stored, whatever its verdict, so the organisation can
    read it back; one made for nobody (no organisation) is kept only when it matched someone.
    Returns the API representation (id, status, result with receipt).
    """
    matched = decision.pop("_matched", [])
    check_id = uuid.uuid4()
    now = timezone.now()
    result = {**decision, "media_sha256": media_sha256, **(extra or {})}
    result["receipt"] = check_receipt(
        check_id=check_id,
        organisation=organisation,
        media_sha256=media_sha256,
        verdict=decision["verdict"],
        category=category,
        faces=len(decision["faces"]),
        assurance=faces_assurance(decision["faces"]),
    )
    stored = organisation is not None or bool(matched)
    if stored:
        # A check that matched nobody is one INSERT, atomic by itself: no transaction around it
        # (BEGIN and COMMIT are two round trips more on the API's busiest path).
        with transaction.atomic() if matched else nullcontext():
            check = Check.objects.create(
                id=check_id,
                organisation=organisation,
                api_key=api_key,
                source=source,
                submitted_by=submitted_by,
                kind=kind,
                status=CheckStatus.DONE,
                progress=100,
                category=category,
                media_sha256=media_sha256,
                media_type=media_type,
                verdict=decision["verdict"],
                faces=len(decision["faces"]),
                result=result,
                created_at=now,
                started_at=now,
                finished_at=now,
            )
            check_matches_record(check=check, matched=matched)
    return {
        "id": str(check_id),
        "kind": kind,
        "status": CheckStatus.DONE.value,
        "progress": 100,
        "category": category,
        "stored": stored,
        "source": source,
        "api_key": api_key.pk if api_key else None,
        "created_at": now.isoformat(),
        "finished_at": now.isoformat(),
        "result": result,
        "error": None,
        "detail_dropped": False,
        "reviews": [],
    }


def check_matches_record(*, check: Check, matched: list[dict[str, Any]]) -> None:
    """One ``CheckMatch`` per matched person (their closest face counts), for their dashboard."""
    best: dict[int, dict[str, Any]] = {}
    for item in matched:
        if item["person_id"] not in best or item["distance"] < best[item["person_id"]]["distance"]:
            best[item["person_id"]] = item
    CheckMatch.objects.bulk_create(
        [
            CheckMatch(
                media_check=check,
                person_id=person_id,
                organisation=check.organisation,
                match=item["match"],
                verdict=item["verdict"],
                distance=item["distance"],
                assurance=item.get("assurance", ""),
                created_at=check.finished_at or timezone.now(),
            )
            for person_id, item in best.items()
        ],
        ignore_conflicts=True,
    )
    if check.organisation_id is not None:
        for person_id, item in best.items():
            # The organisation then hears (by webhook, by its reference) if the person opts out.
            consent_services.person_checked_by(
                person_id=person_id,
                organisation_id=check.organisation_id,
                reference=item["reference"],
            )


def check_receipt(
    *,
    check_id: uuid.UUID,
    organisation: Organisation | None,
    media_sha256: str,
    verdict: str,
    category: str,
    faces: int,
    assurance: list[str | None] | None = None,
) -> dict[str, Any]:
    """Signed by the registry's current key, not logged (verifiable offline with keys.json).

    ``assurance`` lists, face by face, the matched person's assurance level (None where a face
    matched nobody): the evidence a verdict was weighed with (see ``faces_assurance``).
    """
    body: dict[str, Any] = {
        "check_id": str(check_id),
        "organisation": organisation.slug if organisation else None,
        "media_sha256": media_sha256,
        "category": category,
        "verdict": verdict,
        "faces": faces,
    }
    if assurance is not None:
        body["assurance"] = assurance
    return consent_services.receipt_sign(kind=RECEIPT_KIND, body=body)


def faces_assurance(faces: list[dict[str, Any]]) -> list[str | None]:
    """The ``assurance`` of each face entry of ``faces_decide`` (None where nobody matched)."""
    return [face.get("assurance") for face in faces]


def check_get(*, check_id: str, organisation: Organisation | None) -> Check:
    """The organisation's check ``check_id``; 404 for a malformed id or another's check."""
    try:
        key = uuid.UUID(str(check_id))
    except ValueError:
        raise NotFound("No such check.") from None
    check = Check.objects.filter(pk=key, organisation=organisation).first()
    if check is None:
        raise NotFound("No such check.")
    return check


def check_representation(check: Check) -> dict[str, Any]:
    """A stored check as the API shows it (``check_record`` returns the same shape), with the
    members' review decisions on its faces (prefetch ``reviews__decided_by`` for lists)."""
    return {
        "id": str(check.pk),
        "kind": check.kind,
        "status": check.status,
        "progress": check.progress,
        "category": check.category,
        "stored": True,
        "source": check.source,
        "api_key": check.api_key_id,
        "created_at": check.created_at.isoformat(),
        "finished_at": check.finished_at.isoformat() if check.finished_at else None,
        "result": check.result if check.status == CheckStatus.DONE else None,
        "error": check.error,
        "detail_dropped": check.detail_dropped_at is not None,
        "reviews": [review_representation(review) for review in check.reviews.all()],
    }


def review_representation(review: ReviewDecision) -> dict[str, Any]:
    """A member's decision on a face, as the API and the export show it."""
    return {
        "face": review.face,
        "decision": review.decision,
        "decided_by": review.decided_by.email if review.decided_by else None,
        "decided_at": review.decided_at.isoformat(),
    }
