"""Every write (and every face decision) of the matching app: media checks.

The flow of a check, whatever the media:

1. faces are found and embedded (``image_faces`` here for images; ``matching.video`` for video;
   a platform may also send embeddings it computed itself with the same model);
2. ``faces_decide`` searches the templates of people with an active opt-out covering the use,
   decides per person over all of their templates (``match`` / ``possible`` / ``none``), weighs
   the calling organisation's grants and names people only by per-organisation references;
3. ``check_record`` (synchronous checks) or ``check_finish`` (video jobs) stores what must be
   stored and signs the receipt.

Only this module (and enrollment) calls the face engine.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from consent import selectors as consent_selectors
from consent import services as consent_services
from consent.delivery import webhook_signature
from consent.lib.sealing import seal, unseal
from consent.lib.uses import USE_CATEGORIES
from consent.services import webhook_url_check
from matching import tasks
from matching.engine import get_engine
from matching.lib.imaging import IMAGE_MIME_TYPES, decode_image, sniff_image_type
from matching.models import Check, CheckKind, CheckMatch, CheckStatus, Verdict
from matching.selectors import SqlSubquery, faces_nearest
from registry.lib.errors import Conflict, NotFound, ValidationFailed
from registry.models import ApiKey, Organisation, Person

logger = logging.getLogger(__name__)

MAX_EMBEDDINGS = 100
# How many templates one face's search returns: enough for several people's photos within the
# review band (a person holds a handful of templates).
HITS_PER_FACE = 20
RECEIPT_KIND = "media_check"
CALLBACK_SIGNATURE_HEADER = "X-Registry-Signature"
CALLBACK_TIMEOUT_S = 10


@dataclass(slots=True)
class FaceObservation:
    """One face to decide: its box and embedding(s), and for video its time span.

    ``vector`` is one raw engine embedding ``(128,)`` or several of the same face ``(k, 128)``
    (a video track); the face's distance to a person is the smallest over all of them.
    """

    box: list[int]
    vector: np.ndarray
    start_s: float | None = None
    end_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# --- references ---------------------------------------------------------------------------------


def opaque_reference(*, organisation_id: int | None, person_id: int) -> str:
    """How an organisation knows a person: stable for it, unlinkable across organisations."""
    message = f"{organisation_id or 0}:{person_id}".encode()
    digest = hmac.new(settings.OPAQUE_REFERENCE_KEY, message, hashlib.sha256).hexdigest()
    return "ref_" + digest[:32]


def category_check(category: Any) -> str:
    """``category`` when it is one of the use categories; else a 400 that lists them."""
    if category is None or category == "":
        raise ValidationFailed(
            f"category: a use category is required ({', '.join(USE_CATEGORIES)}).",
            detail={"category": "required", "allowed": list(USE_CATEGORIES)},
        )
    if not isinstance(category, str) or category not in USE_CATEGORIES:
        shown = category[:50] if isinstance(category, str) else type(category).__name__
        raise ValidationFailed(
            f"Unknown use category {shown!r}; use one of {', '.join(USE_CATEGORIES)}.",
            detail={"category": shown, "allowed": list(USE_CATEGORIES)},
        )
    return category


# --- deciding -----------------------------------------------------------------------------------

_VERDICT_ORDER = [Verdict.BLOCKED, Verdict.NEEDS_REVIEW, Verdict.CONSENTED, Verdict.CLEAR]


def faces_decide(
    *,
    faces: list[FaceObservation],
    category: str | None,
    organisation: Organisation | None,
    operator: bool = False,
    media_type: str = "image",
) -> dict[str, Any]:
    """Per-face results and the overall verdict for ``category``.

    Only people with an active opt-out covering the category are candidates, read at the time
    of the call, so opt-outs, revocations and erasures count from the very next check. For a
    platform each matched person appears as an opaque reference; ``operator=True`` (the scan
    CLI) gives real public ids instead. The returned dict carries, under ``"_matched"``, the
    person ids for ``check_record`` / ``check_finish``; they strip it before anything leaves.
    An operator may leave ``category`` None: then anyone with any active opt-out is a candidate.
    """
    if category is None and not operator:
        raise ValidationFailed("A use category is required.", detail={"category": "required"})
    if category is not None:
        category_check(category)
    engine = get_engine()
    candidates = _candidates(category)
    now = timezone.now()

    per_face: list[tuple[FaceObservation, int | None, float | None]] = []
    for face in faces:
        vectors = np.asarray(face.vector, dtype=np.float32).reshape(-1, engine.dimensions)
        # A person's distance is the smallest over all of their templates (and, for a video
        # track, over all of the track's embeddings): any one good photo pair decides.
        best: dict[int, float] = {}
        for vector in vectors:
            for hit in faces_nearest(
                embedding=vector,
                limit=HITS_PER_FACE,
                person_ids=candidates,
                max_distance=engine.review_threshold,
                opted_out_only=True,
            ):
                if hit.distance < best.get(hit.person_id, float("inf")):
                    best[hit.person_id] = hit.distance
        if best:
            person_id = min(best, key=best.__getitem__)
            per_face.append((face, person_id, best[person_id]))
        else:
            per_face.append((face, None, None))

    matched_ids = sorted({pid for _f, pid, _d in per_face if pid is not None})
    scopes, consent = _scopes_and_consent(matched_ids, category, organisation, media_type, now)
    public_ids = (
        dict(Person.objects.filter(pk__in=matched_ids).values_list("pk", "public_id"))
        if operator
        else {}
    )

    results, matched = [], []
    for face, person_id, distance in per_face:
        entry: dict[str, Any] = {"box": [int(v) for v in face.box]}
        if face.start_s is not None or face.end_s is not None:
            entry["start_s"] = None if face.start_s is None else round(float(face.start_s), 3)
            entry["end_s"] = None if face.end_s is None else round(float(face.end_s), 3)
        entry.update(face.extra)
        scope = scopes.get(person_id) if person_id is not None else None
        if person_id is None or scope is None:
            # No candidate within the review band (or the opt-out was revoked meanwhile).
            entry.update(match="none", distance=None, verdict=Verdict.CLEAR.value)
            entry.update(optout=None, consent=None)
            if operator:
                entry["subject"] = None
            else:
                entry["reference"] = None
            results.append(entry)
            continue
        match = engine.classify(distance)
        status, grant_id = consent[person_id]
        if status == "consented":
            verdict = Verdict.CONSENTED
        elif match == "match":
            verdict = Verdict.BLOCKED
        else:
            verdict = Verdict.NEEDS_REVIEW
        entry.update(match=match, distance=round(float(distance), 4), verdict=verdict.value)
        if operator:
            entry["subject"] = public_ids.get(person_id)
        else:
            entry["reference"] = opaque_reference(
                organisation_id=organisation.pk if organisation else None, person_id=person_id
            )
        # Categories only: the opt-out's record id is the same for every organisation and
        # would let platforms link the person across organisations.
        entry["optout"] = {"categories": list(scope.categories)}
        entry["consent"] = {"status": status, "grant_record_id": grant_id}
        results.append(entry)
        matched.append(
            {
                "person_id": person_id,
                "match": match,
                "distance": float(distance),
                "verdict": verdict.value,
                "reference": entry.get("reference", ""),
            }
        )

    verdicts = {entry["verdict"] for entry in results}
    overall = next((v for v in _VERDICT_ORDER if v.value in verdicts), Verdict.CLEAR)
    return {
        "verdict": overall.value,
        "category": category,
        "faces_found": len(results),
        "faces": results,
        "model": {"name": engine.name, "threshold": engine.threshold},
        "_matched": matched,
    }


_candidate_sql: dict[str | None, SqlSubquery] = {}


def _candidates(category: str | None) -> SqlSubquery:
    """People with an active opt-out covering ``category`` (any category when None), as a
    subquery run inside the search, so the very next check sees every change. Only the SQL
    text is cached (it is the same for every check of a category), never its result."""
    cached = _candidate_sql.get(category)
    if cached is not None:
        return cached
    # Without ordering: a model's default ORDER BY would make PostgreSQL sort every candidate.
    if category is not None:
        query = consent_selectors.optout_person_ids(category=category).order_by()
    else:
        first, *rest = [
            consent_selectors.optout_person_ids(category=c).order_by() for c in USE_CATEGORIES
        ]
        query = first.union(*rest)
    sql, params = query.query.sql_with_params()
    compiled = _candidate_sql[category] = SqlSubquery(sql=sql, params=tuple(params))
    return compiled


def _scopes_and_consent(
    person_ids: list[int],
    category: str | None,
    organisation: Organisation | None,
    media_type: str,
    at,
) -> tuple[dict[int, Any], dict[int, tuple[str, str | None]]]:
    """For each matched person: the active opt-out covering the use (none if it was revoked
    since the search), and ("consented", grant id) when the organisation holds a valid grant for
    this use that no later opt-out overrides, else ("not_consented", None)."""
    if not person_ids:
        return {}, {}
    not_consented = ("not_consented", None)
    if category is None:  # an operator's scan across every category: no grants to weigh
        scopes: dict[int, Any] = {}
        for each in USE_CATEGORIES:
            for person_id, scope in consent_selectors.optouts_covering(
                person_ids=person_ids, category=each
            ).items():
                scopes.setdefault(person_id, scope)
        return scopes, dict.fromkeys(person_ids, not_consented)
    people = consent_selectors.people_consent(
        person_ids=person_ids,
        organisation_id=organisation.pk if organisation else None,
        category=category,
        media_type=media_type,
        territory=None,
        at=at,
    )
    scopes = {pid: each.optout for pid, each in people.items() if each.optout is not None}
    consent = {}
    for person_id, each in people.items():
        decision = each.decision
        consented = decision.result == "consented" and decision.record is not None
        consent[person_id] = (
            ("consented", decision.record.record_id) if consented else not_consented
        )
    return scopes, consent


# --- images and embeddings ----------------------------------------------------------------------


def image_faces(*, data: bytes) -> list[FaceObservation]:
    """Decode (type and pixel checks first) and analyse an image: one observation per face."""
    image = decode_image(data, max_pixels=settings.MAX_IMAGE_PIXELS)
    return [
        FaceObservation(box=face.box.as_list(), vector=face.vector)
        for face in get_engine().analyse(image)
    ]


def image_check(
    *,
    data: bytes,
    category: str,
    organisation: Organisation | None,
    api_key: ApiKey | None,
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
    )


# IPTC digital source types that declare the content as made by a generative model.
_AI_SOURCE_TYPES = (
    "trainedAlgorithmicMedia",
    "compositeWithTrainedAlgorithmicMedia",
    "algorithmicMedia",
)


def c2pa_signal(data: bytes) -> dict[str, Any]:
    """Whether the file's C2PA Content Credentials declare AI generation, beside the faces.

    ``{"checked": false}`` when the c2pa library is not installed; otherwise ``manifest`` says
    whether credentials are present and ``ai_generated`` is true when any manifest's actions
    carry an AI digital source type, false when credentials are present without one, and null
    without credentials. ``validation_state`` and ``trusted`` (the signer chains to a trust list
    the registry knows; none is configured, so usually false) let a platform weigh it: a
    manifest is a claim by whoever signed it, not proof.
    """
    try:
        import c2pa
    except ImportError:
        return {"checked": False, "reason": "c2pa-python is not installed"}
    import io

    mime = IMAGE_MIME_TYPES.get(sniff_image_type(data) or "")
    if not mime:
        return {"checked": False, "reason": "not an image type with Content Credentials support"}
    try:
        reader = c2pa.Reader(mime, io.BytesIO(data))
    except c2pa.C2paError as error:
        if "ManifestNotFound" in type(error).__name__ or "not found" in str(error).lower():
            return {"checked": True, "manifest": False, "ai_generated": None}
        return {
            "checked": True,
            "manifest": False,
            "ai_generated": None,
            "error": f"unreadable Content Credentials: {type(error).__name__}",
        }
    try:
        store = json.loads(reader.json())
        state = reader.get_validation_state()
    finally:
        reader.close()
    sources = sorted(
        {
            str(action.get("digitalSourceType", ""))
            for manifest in (store.get("manifests") or {}).values()
            for assertion in manifest.get("assertions") or []
            if str(assertion.get("label", "")).startswith("c2pa.actions")
            for action in (assertion.get("data") or {}).get("actions") or []
            if action.get("digitalSourceType")
        }
    )
    statuses = {entry.get("code") for entry in store.get("validation_status") or []}
    active = (store.get("manifests") or {}).get(store.get("active_manifest") or "", {})
    return {
        "checked": True,
        "manifest": True,
        "ai_generated": any(s.rsplit("/", 1)[-1] in _AI_SOURCE_TYPES for s in sources),
        "digital_source_types": sources,
        "validation_state": str(state),
        "trusted": "signingCredential.untrusted" not in statuses,
        "signed_by": (active.get("signature_info") or {}).get("issuer"),
    }


def embeddings_check(
    *,
    category: Any,
    embeddings: Any,
    boxes: Any = None,
    organisation: Organisation | None,
    api_key: ApiKey | None,
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
    )


def _is_box(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 4
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    )


def embeddings_faces(*, embeddings: Any, boxes: Any) -> list[FaceObservation]:
    """One observation per embedding (a list of ``engine.dimensions`` finite numbers each), with
    the optional ``[top, right, bottom, left]`` box sent for it."""
    engine = get_engine()
    if not isinstance(embeddings, list) or not embeddings:
        raise ValidationFailed(
            "embeddings: send a list of at least one embedding.", detail={"embeddings": "required"}
        )
    if len(embeddings) > MAX_EMBEDDINGS:
        raise ValidationFailed(
            f"embeddings: at most {MAX_EMBEDDINGS} per check.",
            detail={"embeddings": len(embeddings), "max": MAX_EMBEDDINGS},
        )
    try:
        array = np.asarray(embeddings, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        array = None
    if (
        array is None
        or array.ndim != 2
        or array.shape[1] != engine.dimensions
        or not np.isfinite(array).all()
    ):
        raise ValidationFailed(
            f"embeddings: each must be {engine.dimensions} finite numbers from {engine.name}.",
            detail={"dimensions": engine.dimensions, "model": engine.name},
        )
    if boxes is not None and (
        not isinstance(boxes, list)
        or len(boxes) != len(embeddings)
        or not all(_is_box(box) for box in boxes)
    ):
        raise ValidationFailed(
            "boxes: send one [top, right, bottom, left] box of 4 integers per embedding, or none.",
            detail={"boxes": "one per embedding"},
        )
    return [
        FaceObservation(box=list(boxes[i]) if boxes else [], vector=array[i].astype(np.float32))
        for i in range(len(array))
    ]


def embeddings_digest(faces: list[FaceObservation]) -> str:
    """SHA-256 over the embeddings as little-endian float32, in order: the receipt's media hash."""
    digest = hashlib.sha256()
    for face in faces:
        digest.update(np.asarray(face.vector, dtype="<f4").tobytes())
    return digest.hexdigest()


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
) -> dict[str, Any]:
    """Finish a synchronous check: store it when it matched someone, sign the receipt.

    Returns the API representation (id, status, result with receipt).
    """
    matched = decision.pop("_matched", [])
    check_id = uuid.uuid4()
    now = timezone.now()
    result = {**decision, "media_sha256": media_sha256, **(extra or {})}
    result["receipt"] = _receipt(
        check_id=check_id,
        organisation=organisation,
        media_sha256=media_sha256,
        verdict=decision["verdict"],
        category=category,
        faces=len(decision["faces"]),
    )
    stored = bool(matched)
    if stored:
        with transaction.atomic():
            check = Check.objects.create(
                id=check_id,
                organisation=organisation,
                api_key=api_key,
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
            _matches_record(check, matched)
    return {
        "id": str(check_id),
        "kind": kind,
        "status": CheckStatus.DONE.value,
        "progress": 100,
        "category": category,
        "stored": stored,
        "created_at": now.isoformat(),
        "finished_at": now.isoformat(),
        "result": result,
        "error": None,
    }


def _matches_record(check: Check, matched: list[dict[str, Any]]) -> None:
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


def _receipt(
    *,
    check_id: uuid.UUID,
    organisation: Organisation | None,
    media_sha256: str,
    verdict: str,
    category: str,
    faces: int,
) -> dict[str, Any]:
    """Signed by the registry's current key, not logged (verifiable offline with keys.json)."""
    return consent_services.receipt_sign(
        kind=RECEIPT_KIND,
        body={
            "check_id": str(check_id),
            "organisation": organisation.slug if organisation else None,
            "media_sha256": media_sha256,
            "category": category,
            "verdict": verdict,
            "faces": faces,
        },
    )


# --- video jobs ---------------------------------------------------------------------------------


def _checks_dir() -> Path:
    path = Path(settings.MEDIA_ROOT) / "checks"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def check_media_path(check: Check) -> Path | None:
    return Path(settings.MEDIA_ROOT) / check.media_path if check.media_path else None


def video_check_create(
    *,
    organisation: Organisation | None,
    api_key: ApiKey | None,
    category: str,
    upload: UploadedFile,
    container: str,
    callback_url: str = "",
    callback_secret: str = "",
) -> Check:
    """Save the upload under MEDIA_ROOT/checks/ and queue the analysis (after commit)."""
    category_check(category)
    if callback_url:
        webhook_url_check(callback_url)
        if len(callback_secret) < 16:
            raise ValidationFailed(
                "A callback URL needs a callback_secret of at least 16 characters; the "
                "callback is signed with it (HMAC-SHA256).",
                detail={"callback_secret": "required"},
            )
    check_id = uuid.uuid4()
    relative = f"checks/{check_id}.{container}"
    target = _checks_dir() / f"{check_id}.{container}"
    digest = hashlib.sha256()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        for chunk in upload.chunks():
            digest.update(chunk)
            out.write(chunk)
    try:
        with transaction.atomic():
            check = Check.objects.create(
                id=check_id,
                organisation=organisation,
                api_key=api_key,
                kind=CheckKind.VIDEO,
                status=CheckStatus.QUEUED,
                category=category,
                media_sha256=digest.hexdigest(),
                media_type=f"video/{container}",
                media_path=relative,
                callback_url=callback_url,
                callback_secret_sealed=seal(
                    settings.REGISTRY_KEK,
                    callback_secret.encode(),
                    associated_data=str(check_id).encode(),
                )
                if callback_url
                else None,
            )
            transaction.on_commit(lambda: _enqueue_video(check.pk))
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return check


def _enqueue_video(check_id: uuid.UUID) -> None:
    tasks.video_check_run.delay(str(check_id))


def check_cancel(*, check: Check) -> Check:
    """Cancel a queued or running job; a running worker notices at its next progress step."""
    with transaction.atomic():
        locked = Check.objects.select_for_update().get(pk=check.pk)
        if locked.status in (CheckStatus.DONE, CheckStatus.FAILED):
            raise Conflict(f"This check is already {locked.status}.", code="check_finished")
        if locked.status != CheckStatus.CANCELLED:
            locked.status = CheckStatus.CANCELLED
            locked.finished_at = timezone.now()
            locked.save(update_fields=["status", "finished_at", "updated_at"])
            transaction.on_commit(lambda: check_media_delete(check=locked))
    return locked


def check_media_delete(*, check: Check) -> None:
    """Delete the uploaded file of a job; safe to call twice (and while a worker reads it)."""
    path = check_media_path(check)
    if path is not None:
        path.unlink(missing_ok=True)
        Check.objects.filter(pk=check.pk).update(media_path="")


def check_finish(*, check: Check, result: dict[str, Any]) -> Check:
    """Store a job's result (from ``faces_decide``), sign its receipt, notify its callback.

    Idempotent: a job re-run after a worker crash finishes once; a cancelled job stays
    cancelled. The uploaded media is deleted.
    """
    result = dict(result)
    matched = result.pop("_matched", [])
    with transaction.atomic():
        locked = Check.objects.select_for_update().get(pk=check.pk)
        if locked.status in (CheckStatus.DONE, CheckStatus.CANCELLED):
            transaction.on_commit(lambda: check_media_delete(check=locked))
            return locked
        now = timezone.now()
        result["media_sha256"] = locked.media_sha256
        result["receipt"] = _receipt(
            check_id=locked.pk,
            organisation=locked.organisation,
            media_sha256=locked.media_sha256,
            verdict=result["verdict"],
            category=locked.category,
            faces=len(result.get("faces", [])),
        )
        locked.result = result
        locked.verdict = result["verdict"]
        locked.faces = len(result.get("faces", []))
        locked.status = CheckStatus.DONE
        locked.progress = 100
        locked.error = None
        locked.finished_at = now
        locked.save()
        if matched:
            _matches_record(locked, matched)
        transaction.on_commit(lambda: check_media_delete(check=locked))
        if locked.callback_url:
            _callback_enqueue(locked.pk)
    return locked


def check_fail(*, check: Check, code: str, message: str, detail: Any = None) -> Check:
    """Mark a job failed with an error a platform can read (bad media, too long, ...)."""
    with transaction.atomic():
        locked = Check.objects.select_for_update().get(pk=check.pk)
        if locked.status in (CheckStatus.DONE, CheckStatus.CANCELLED):
            return locked
        locked.status = CheckStatus.FAILED
        locked.error = {"code": code, "message": message, "detail": detail}
        locked.finished_at = timezone.now()
        locked.save(update_fields=["status", "error", "finished_at", "updated_at"])
        transaction.on_commit(lambda: check_media_delete(check=locked))
        if locked.callback_url:
            _callback_enqueue(locked.pk)
    return locked


def check_progress(*, check: Check, percent: int) -> bool:
    """Record progress; returns False when the job was cancelled (the worker should stop)."""
    updated = Check.objects.filter(pk=check.pk, status=CheckStatus.RUNNING).update(
        progress=max(0, min(99, int(percent))), updated_at=timezone.now()
    )
    return bool(updated)


def check_start(*, check: Check) -> bool:
    """Mark a queued (or crashed-while-running) job running; False if it is finished/cancelled."""
    now = timezone.now()
    with transaction.atomic():
        locked = Check.objects.select_for_update().get(pk=check.pk)
        if locked.status not in (CheckStatus.QUEUED, CheckStatus.RUNNING):
            return False
        locked.status = CheckStatus.RUNNING
        locked.attempts += 1
        locked.started_at = locked.started_at or now
        locked.save(update_fields=["status", "attempts", "started_at", "updated_at"])
    return True


def check_representation(check: Check) -> dict[str, Any]:
    return {
        "id": str(check.pk),
        "kind": check.kind,
        "status": check.status,
        "progress": check.progress,
        "category": check.category,
        "stored": True,
        "created_at": check.created_at.isoformat(),
        "finished_at": check.finished_at.isoformat() if check.finished_at else None,
        "result": check.result if check.status == CheckStatus.DONE else None,
        "error": check.error,
    }


def _callback_enqueue(check_id: uuid.UUID) -> None:
    """After commit, hand the callback to its Celery task: one POST now, retries with back-off
    from the task, so no worker or request waits on a slow receiver more than once."""
    transaction.on_commit(lambda: tasks.check_callback_deliver.delay(str(check_id)), robust=True)


def check_callback_deliver(*, check_id: uuid.UUID) -> int | None:
    """POST the finished check to its callback URL, signed like the registry's webhooks:
    ``X-Registry-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``."""
    check = Check.objects.filter(pk=check_id).first()
    if check is None or not check.callback_url or check.callback_delivered_at is not None:
        return None
    secret = unseal(
        settings.REGISTRY_KEK,
        bytes(check.callback_secret_sealed),
        associated_data=str(check.pk).encode(),
    ).decode()
    body = json.dumps(
        {"type": "check.finished", "check": check_representation(check)},
        separators=(",", ":"),
        sort_keys=True,
    ).encode()
    timestamp = int(timezone.now().timestamp())
    webhook_url_check(check.callback_url)
    request = urllib.request.Request(  # noqa: S310 - https (or allowed localhost) checked above
        check.callback_url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            CALLBACK_SIGNATURE_HEADER: webhook_signature(
                secret=secret, timestamp=timestamp, body=body
            ),
            "User-Agent": "likeness-registry-callback/1",
        },
    )
    status: int | None
    try:
        with urllib.request.urlopen(request, timeout=CALLBACK_TIMEOUT_S) as response:  # noqa: S310
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except (urllib.error.URLError, OSError) as error:
        logger.warning("check callback failed check=%s error=%s", check.pk, error)
        status = None
    delivered = status is not None and 200 <= status < 300
    Check.objects.filter(pk=check.pk).update(
        callback_attempts=check.callback_attempts + 1,
        callback_delivered_at=timezone.now() if delivered else None,
    )
    return status


def check_get(*, check_id: str, organisation: Organisation | None) -> Check:
    try:
        key = uuid.UUID(str(check_id))
    except ValueError:
        raise NotFound("No such check.") from None
    check = Check.objects.filter(pk=key, organisation=organisation).first()
    if check is None:
        raise NotFound("No such check.")
    return check
