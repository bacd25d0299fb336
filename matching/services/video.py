"""Video checks: the job from upload to result, and the signed callback that reports it.

A video check is a job whose state is its ``Check`` row. ``video_check_create`` stores the upload
under MEDIA_ROOT/checks/ and queues ``matching.tasks.video_check_run``, which calls
``video_check_execute``: analyse the video (``matching.video``), decide its face tracks
(``faces_decide``) and store the result (``check_finish``) or the reason it failed
(``check_fail``). ``check_cancel`` stops it from the API.

A task may be delivered more than once (late acknowledgement: a worker that dies mid-job leaves
its message to be redelivered), so running a job again is safe:

* a check already done, failed or cancelled is left alone (a redelivery after success);
* a check found ``running`` belonged to a worker that died: it is started again from the
  beginning of the video (analysis keeps no partial state worth resuming), with its
  ``attempts`` counted, and its stored progress never goes backwards;
* cancellation through the API sets the row to ``cancelled``; the analysis asks between samples
  (at most once a second) and stops.

The stored media file is deleted once the job ends, whichever way it ends. A check with a
callback URL is then POSTed to it (``check_callback_post``, signed and sent through
``consent.delivery`` like the registry's webhooks) by ``matching.tasks.check_callback_deliver``,
which retries as ``check_callback_attempt`` says (the retry policy of ``consent.delivery``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from consent.delivery import delivery_url_check, retry_after_seconds, signed_post
from consent.lib.sealing import seal, unseal
from consent.lib.uses import category_check
from matching import tasks
from matching.models import FINAL_STATUSES, Check, CheckKind, CheckSource, CheckStatus
from matching.services.checks import (
    check_matches_record,
    check_receipt,
    check_representation,
    faces_assurance,
)
from matching.services.decide import faces_decide
from matching.services.media import FaceObservation
from matching.tasks import TRANSIENT_ERRORS
from matching.video import AnalysisCancelled, VideoAnalysis, VideoError, analyse_video
from registry.lib.errors import Conflict, ValidationFailed
from registry.lib.outbound import OutboundResponse
from registry.models import ApiKey, Organisation, User

logger = logging.getLogger(__name__)

#: Progress is written to the row in steps of this many percent (and always at 100 by finish).
PROGRESS_STEP = 5
#: The row's status is read at most this often while the analysis asks whether to stop.
CANCEL_POLL_S = 1.0


# --- the job's row ------------------------------------------------------------------------------


def _checks_dir() -> Path:
    path = Path(settings.MEDIA_ROOT) / "checks"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def check_media_path(check: Check) -> Path | None:
    """Where a job's uploaded video is stored; None once it was deleted."""
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
    submitted_by: User | None = None,
    source: str = CheckSource.API,
) -> Check:
    """Save the upload under MEDIA_ROOT/checks/ and queue the analysis (after commit)."""
    category_check(category)
    if callback_url:
        delivery_url_check(callback_url)
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
                source=source,
                submitted_by=submitted_by,
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
        result["receipt"] = check_receipt(
            check_id=locked.pk,
            organisation=locked.organisation,
            media_sha256=locked.media_sha256,
            verdict=result["verdict"],
            category=locked.category,
            faces=len(result.get("faces", [])),
            assurance=faces_assurance(result.get("faces", [])),
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
            check_matches_record(check=locked, matched=matched)
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


# --- running the job ----------------------------------------------------------------------------


@dataclass
class _JobProgress:
    """Progress writes throttled to ``PROGRESS_STEP``, and the cancellation poll."""

    check: Check
    written: int
    cancelled: bool = False
    _polled_at: float = field(default=0.0)

    def __call__(self, percent: int) -> None:
        if percent >= 100 or percent < self.written + PROGRESS_STEP:
            return
        if check_progress(check=self.check, percent=percent):
            self.written = percent
        else:  # no longer running: cancelled (or finished by another worker)
            self.cancelled = True

    def should_cancel(self) -> bool:
        if self.cancelled:
            return True
        now = time.monotonic()
        if now - self._polled_at >= CANCEL_POLL_S:
            self._polled_at = now
            status = Check.objects.filter(pk=self.check.pk).values_list("status", flat=True).first()
            self.cancelled = status != CheckStatus.RUNNING
        return self.cancelled


def video_observations(analysis: VideoAnalysis) -> list[FaceObservation]:
    """One observation per track: all its embeddings (the closest decides) and its time span."""
    return [
        FaceObservation(
            box=track.box,
            vector=np.stack(track.embeddings),
            start_s=track.start_s,
            end_s=track.end_s,
            extra={
                "track": track.track_id,
                "spans": [[round(a, 3), round(b, 3)] for a, b in track.spans],
            },
        )
        for track in analysis.tracks
        if track.embeddings
    ]


def video_check_execute(*, check_id: uuid.UUID | str) -> str:
    """Analyse a queued video check and decide it; returns the check's final status.

    Problems with the video itself end the check ``failed`` with a readable error. Transient
    errors (``TRANSIENT_ERRORS``) propagate for the task to retry, the check staying
    ``running`` (a retry restarts it); any other error also ends the check ``failed``, with a
    generic message, before it propagates, so no job hangs in ``running`` after a bug.
    """
    try:
        status = _run(check_id)
    except TRANSIENT_ERRORS:
        raise
    except Exception:
        logger.exception("video check %s failed unexpectedly", check_id)
        check = Check.objects.filter(pk=check_id).first()
        if check is not None:
            check_fail(
                check=check,
                code="internal_error",
                message="The video could not be analysed because of an internal error.",
            )
        raise
    return status


def _run(check_id: uuid.UUID | str) -> str:
    check = Check.objects.filter(pk=check_id).first()
    if check is None:
        logger.warning("video check %s does not exist (deleted?); nothing to do", check_id)
        return "missing"
    if check.status in FINAL_STATUSES:
        return check.status  # a redelivered message for a job that already ended
    if not check_start(check=check):
        check.refresh_from_db(fields=["status"])
        return check.status
    check.refresh_from_db()

    path = check_media_path(check)
    if path is None or not path.is_file():
        check_fail(
            check=check,
            code="media_missing",
            message="The uploaded video is no longer available; submit it again.",
        )
        return CheckStatus.FAILED

    job = _JobProgress(check=check, written=check.progress)
    try:
        analysis = analyse_video(
            path,
            progress=job,
            should_cancel=job.should_cancel,
            max_seconds=settings.MAX_VIDEO_SECONDS,
            max_bytes=settings.MAX_VIDEO_BYTES,
        )
    except AnalysisCancelled:
        check_media_delete(check=check)
        check.refresh_from_db(fields=["status"])
        logger.info("video check %s stopped: %s", check.pk, check.status)
        return check.status
    except VideoError as error:
        check_fail(check=check, code=error.code, message=error.message, detail=error.detail)
        return CheckStatus.FAILED

    result = faces_decide(
        faces=video_observations(analysis),
        category=check.category,
        organisation=check.organisation,
        media_type="video",
    )
    result["video"] = {
        "duration_s": analysis.duration_s,
        "fps": analysis.fps,
        "size": [analysis.width, analysis.height],
        "frames_sampled": analysis.frames_sampled,
        "sample_every_s": analysis.sample_every_s,
        "tracks": len(analysis.tracks),
    }
    finished = check_finish(check=check, result=result)
    return finished.status


# --- the callback -------------------------------------------------------------------------------


def _callback_enqueue(check_id: uuid.UUID) -> None:
    """After commit, hand the callback to its Celery task: one POST now, retries with back-off
    from the task, so no worker or request waits on a slow receiver more than once."""
    transaction.on_commit(lambda: tasks.check_callback_deliver.delay(str(check_id)), robust=True)


def check_callback_post(*, check_id: uuid.UUID | str) -> OutboundResponse | None:
    """POST the finished check to its callback URL once: the receiver's status (or the error
    class when nothing answered), or None when there is nothing to send.

    Signed like the registry's webhooks (``consent.delivery``):
    ``X-Registry-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``. A
    redirect is not followed: it is the receiver's answer, and retried like any other non-2xx.
    """
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
    # The URL is checked again at every attempt, inside the client: what its name resolves to
    # may have changed since the check was submitted.
    response = signed_post(
        check.callback_url,
        body=body,
        secret=secret,
        headers={"User-Agent": "likeness-registry-callback/1"},
    )
    if response.status is None:
        logger.warning("check callback failed check=%s error=%s", check.pk, response.error)
    Check.objects.filter(pk=check.pk).update(
        callback_attempts=check.callback_attempts + 1,
        callback_delivered_at=timezone.now() if response.ok else None,
    )
    return response


def check_callback_attempt(*, check_id: uuid.UUID | str, attempt: int = 0) -> int | None:
    """POST the finished check to its callback once more; seconds until the next try, or None
    when delivered, not needed, or refused for good (a 4xx other than 408/429)."""
    response = check_callback_post(check_id=check_id)
    if response is None:
        return None  # nothing to deliver (no callback, already delivered, check gone)
    return retry_after_seconds(response=response, attempts=attempt + 1)
