"""Running a video check: the service behind the ``matching.tasks.video_check_run`` task.

The check's row is the job's state, so a task may be delivered more than once (late
acknowledgement: a worker that dies mid-job leaves its message to be redelivered) and must be
safe to run again:

* a check already done, failed or cancelled is left alone (a redelivery after success);
* a check found ``running`` belonged to a worker that died: it is started again from the
  beginning of the video (analysis keeps no partial state worth resuming), with its
  ``attempts`` counted, and its stored progress never goes backwards;
* cancellation through the API sets the row to ``cancelled``; the analysis asks between samples
  (at most once a second) and stops.

The stored media file is deleted once the job ends, whichever way it ends, by the checks
services (``check_finish`` / ``check_fail`` / ``check_cancel``) or here on cancellation.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings

from matching import services
from matching.models import FINAL_STATUSES, Check, CheckStatus
from matching.tasks import TRANSIENT_ERRORS
from matching.video import AnalysisCancelled, VideoAnalysis, VideoError, analyse_video

logger = logging.getLogger(__name__)

#: Progress is written to the row in steps of this many percent (and always at 100 by finish).
PROGRESS_STEP = 5
#: The row's status is read at most this often while the analysis asks whether to stop.
CANCEL_POLL_S = 1.0
CALLBACK_BACKOFF_S = 30
CALLBACK_BACKOFF_MAX_S = 3600


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
        if services.check_progress(check=self.check, percent=percent):
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


def video_observations(analysis: VideoAnalysis) -> list[services.FaceObservation]:
    """One observation per track: all its embeddings (the closest decides) and its time span."""
    return [
        services.FaceObservation(
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


def video_check_run(*, check_id: uuid.UUID | str) -> str:
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
            services.check_fail(
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
    if not services.check_start(check=check):
        check.refresh_from_db(fields=["status"])
        return check.status
    check.refresh_from_db()

    path = services.check_media_path(check)
    if path is None or not path.is_file():
        services.check_fail(
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
        services.check_media_delete(check=check)
        check.refresh_from_db(fields=["status"])
        logger.info("video check %s stopped: %s", check.pk, check.status)
        return check.status
    except VideoError as error:
        services.check_fail(
            check=check, code=error.code, message=error.message, detail=error.detail
        )
        return CheckStatus.FAILED

    result = services.faces_decide(
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
    finished = services.check_finish(check=check, result=result)
    return finished.status


def callback_backoff_s(attempt: int) -> int:
    """Seconds before retry number ``attempt + 1``: 30 s, 1 min, 2 min, ..., at most an hour."""
    return min(CALLBACK_BACKOFF_S * 2**attempt, CALLBACK_BACKOFF_MAX_S)


def video_check_callback(*, check_id: uuid.UUID | str, attempt: int = 0) -> int | None:
    """POST the finished check to its callback once more; seconds until the next try, or None
    when delivered, not needed, or refused for good (a 4xx other than 408/429)."""
    status = services.check_callback_deliver(check_id=check_id)
    if status is None:
        check = (
            Check.objects.filter(pk=check_id).only("callback_url", "callback_delivered_at").first()
        )
        if check is None or not check.callback_url or check.callback_delivered_at is not None:
            return None  # nothing to deliver (no callback, already delivered, check gone)
    elif 200 <= status < 300 or (400 <= status < 500 and status not in (408, 429)):
        return None
    return callback_backoff_s(attempt)
