"""Live selfie capture: the ``liveness`` assurance level and templates from several angles.

The server picks a random challenge (head turns in an order) bound to a single-use nonce that
expires within minutes (``liveness_challenge_create``); the person's browser records a short clip
while it prompts each turn and sends it back with the nonce (``liveness_clip_verify``). The clip is
accepted only if every sampled frame shows one face (a few frames may show none, never two), the
same face throughout, the turns asked for in that order (``lifecycle.lib.head_turns``), and a face
the engine's verdict rule calls a ``match`` for the person's reference photos. Then a frontal and
the turned faces become templates (through ``face_template_store``, like every enrollment), the
person's ``liveness_passed_at`` is set and their level recomputed.

What it stops and what it does not: ``docs/liveness.md``. The clip is analysed in memory and
discarded; the attempt keeps only the clip's SHA-256 (so the same bytes never pass twice), a plain
reason and, once passed, the clip's head motion as yaw angles (so a re-encoded copy of it does not
pass again either); the audit trail only ids and counts.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import tempfile
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from consent import services as consent_services
from lifecycle.lib.head_turns import (
    DIRECTIONS,
    RETURN_DEGREES,
    follows_challenge,
    frontal_baseline,
    head_turns,
    pose_trace,
    same_motion,
)
from lifecycle.models import LivenessAttempt, LivenessOutcome
from lifecycle.services.enrollment import face_template_store
from matching.engine import get_engine
from matching.video import VideoError, VideoReader, VideoTooLarge
from registry import services as registry_services
from registry.lib.errors import Conflict, RegistryError, ValidationFailed
from registry.lib.template_protection import unprotect
from registry.models import Person
from registry.selectors import current_template_key_version, template_key

logger = logging.getLogger(__name__)

#: A challenge is valid this long after it was shown: enough to read it and record.
CHALLENGE_TTL = timedelta(minutes=3)
#: Attempts (challenges handed out) per person per hour.
ATTEMPTS_PER_HOUR = 5
#: 2 or 3 turns, alternating: never the same way twice in a row.
CHALLENGE_LENGTHS = (2, 3)
#: Seconds the page gives: looking at the camera first, then each turn.
LEAD_IN_SECONDS = 1.5
STEP_SECONDS = 2.0
#: A clip longer or larger than this is not a selfie capture.
MAX_CLIP_SECONDS = 20
MAX_CLIP_BYTES = 20 * 1024 * 1024
#: Frames analysed per second of clip (a turn lasts 0.5-1.5 s: several samples each).
SAMPLE_EVERY_S = 0.125
#: Frames are analysed at most this large (a phone's 1080p adds time, not evidence).
ANALYSE_MAX_SIDE = 640
#: Frames where the detector sees no face (HOG misses some strongly turned faces) may be at most
#: this share of the samples; the rest must each show exactly one face.
MAX_MISSING_SHARE = 0.35
MIN_FACE_SAMPLES = 8
#: Frontal frames compared with the reference photos (the sharpest ones).
VERIFY_PROBES = 5
#: Templates stored from a passed clip: the best frontal face and each turn's furthest face.
TEMPLATES_FROM_CLIP = 4

REASONS = {
    "replay": "This clip was already used. Record a new one.",
    "two_faces": "We saw two faces. Make sure only you are in front of the camera.",
    "no_face": "We could not see your face clearly. Face the camera in good light.",
    "face_changed": "The face changed during the clip. Only you should be in front of the camera.",
    "no_turns": "We did not see your head turn. Follow the arrows as they appear.",
    "wrong_order": "The head turns did not follow the order asked. Try again with a new challenge.",
    "not_the_person": "This clip does not look like the person in your photos.",
}


class LivenessUnavailable(Conflict):
    code = "liveness_unavailable"


class AttemptsExhausted(RegistryError):
    status_code = 429
    code = "too_many_attempts"


@dataclass
class LivenessResult:
    attempt: LivenessAttempt
    templates_stored: int = 0
    level: str = ""
    detail: dict[str, Any] = field(default_factory=dict)  # counts for tests and the log only

    @property
    def passed(self) -> bool:
        return self.attempt.outcome == LivenessOutcome.PASSED


def challenge_random() -> list[str]:
    """A random alternating sequence of 2-3 turns, from the OS's random source."""
    length = secrets.choice(CHALLENGE_LENGTHS)
    first = secrets.choice(DIRECTIONS)
    other = DIRECTIONS[1 - DIRECTIONS.index(first)]
    return [first if i % 2 == 0 else other for i in range(length)]


def challenge_seconds(challenge: list[str]) -> float:
    """How long the page records for a challenge."""
    return LEAD_IN_SECONDS + STEP_SECONDS * len(challenge)


def liveness_challenge_current(*, person: Person) -> LivenessAttempt | None:
    """The person's unexpired, unused challenge, if any (a reloaded page shows it again rather
    than spending another attempt)."""
    return (
        LivenessAttempt.objects.filter(
            person=person, used_at__isnull=True, expires_at__gt=timezone.now()
        )
        .order_by("-created_at")
        .first()
    )


def liveness_challenge_create(*, person: Person) -> LivenessAttempt:
    """A new challenge for ``person``: refused without reference photos, and beyond
    ``ATTEMPTS_PER_HOUR``."""
    if not person.templates.exists():
        raise LivenessUnavailable(
            "Add reference photos first: the live capture is compared with them."
        )
    now = timezone.now()
    with transaction.atomic():
        # The person's row lock serialises two tabs asking at once, so the limit holds.
        Person.objects.select_for_update().filter(pk=person.pk).first()
        recent = LivenessAttempt.objects.filter(
            person=person, created_at__gt=now - timedelta(hours=1)
        ).order_by("created_at")
        if recent.count() >= ATTEMPTS_PER_HOUR:
            wait = recent.first().created_at + timedelta(hours=1) - now
            minutes = max(1, int(wait.total_seconds() // 60) + 1)
            raise AttemptsExhausted(
                f"You have used {ATTEMPTS_PER_HOUR} attempts in the last hour. "
                f"Try again in {minutes} minute{'' if minutes == 1 else 's'}.",
                detail={"retry_after_s": int(wait.total_seconds()) + 1},
            )
        return LivenessAttempt.objects.create(
            person=person,
            nonce=secrets.token_urlsafe(32),
            challenge=challenge_random(),
            created_at=now,
            expires_at=now + CHALLENGE_TTL,
        )


def liveness_attempt_for_nonce(*, person: Person, nonce: str) -> LivenessAttempt:
    attempt = LivenessAttempt.objects.filter(person=person, nonce=str(nonce)[:64]).first()
    if attempt is None:
        raise ValidationFailed(
            "This challenge is not known. Start a new one.", code="unknown_challenge"
        )
    return attempt


def liveness_clip_verify(*, attempt: LivenessAttempt, clip: bytes) -> LivenessResult:
    """Judge a clip recorded for ``attempt`` (see the module docstring).

    The nonce is spent first, whatever follows. A clip that cannot be read raises its
    ``VideoError`` (4xx, a plain message) after the attempt was marked failed; a clip that was read
    but refused ends the attempt ``failed`` with a plain ``reason``. Either way the person asks for
    a new challenge.
    """
    _spend(attempt)
    digest = hashlib.sha256(clip).hexdigest()
    attempt.clip_sha256 = digest
    if not clip:
        _finish(attempt, LivenessOutcome.FAILED, "The upload is empty: no clip was recorded.")
        raise ValidationFailed("The upload is empty: no clip was recorded.", code="empty_clip")
    if len(clip) > MAX_CLIP_BYTES:
        message = (
            f"The clip is {len(clip) / 1e6:.1f} MB; a live capture is at most "
            f"{MAX_CLIP_BYTES / 1e6:.0f} MB."
        )
        _finish(attempt, LivenessOutcome.FAILED, message)
        raise VideoTooLarge(message)
    if LivenessAttempt.objects.filter(clip_sha256=digest).exclude(pk=attempt.pk).exists():
        return _refuse(attempt, "replay")

    engine = get_engine()
    try:
        samples = _analyse(clip, engine)
    except VideoError as error:
        _finish(attempt, LivenessOutcome.FAILED, error.message[:200])
        raise
    return _judge(attempt, samples, engine)


def _spend(attempt: LivenessAttempt) -> None:
    with transaction.atomic():
        locked = LivenessAttempt.objects.select_for_update().get(pk=attempt.pk)
        if locked.used_at is not None:
            raise Conflict(
                "This challenge was already used. Start a new one.", code="challenge_used"
            )
        now = timezone.now()
        if locked.expires_at <= now:
            raise Conflict("This challenge has expired. Start a new one.", code="challenge_expired")
        locked.used_at = now
        locked.save(update_fields=["used_at"])
    attempt.used_at = locked.used_at


@dataclass
class _Sample:
    time_s: float
    faces: list  # FaceEmbedding


def _analyse(clip: bytes, engine) -> list[_Sample]:
    """Decode the clip and analyse a frame every ``SAMPLE_EVERY_S``."""
    samples = []
    with tempfile.NamedTemporaryFile(prefix="liveness-", suffix=".clip") as file:
        file.write(clip)
        file.flush()
        with VideoReader(file.name, max_seconds=MAX_CLIP_SECONDS, max_bytes=MAX_CLIP_BYTES) as r:
            for sample in r.frames(SAMPLE_EVERY_S):
                faces = engine.analyse(sample.rgb(max_side=ANALYSE_MAX_SIDE))
                samples.append(_Sample(time_s=sample.time_s, faces=faces))
    return samples


def _judge(attempt: LivenessAttempt, samples: list[_Sample], engine) -> LivenessResult:
    if any(len(s.faces) > 1 for s in samples):
        return _refuse(attempt, "two_faces")
    seen = [s for s in samples if s.faces]
    missing = len(samples) - len(seen)
    if len(seen) < MIN_FACE_SAMPLES or missing > MAX_MISSING_SHARE * len(samples):
        return _refuse(attempt, "no_face", samples=len(samples), missing=missing)
    faces = [s.faces[0] for s in seen]
    times = [s.time_s for s in seen]
    yaws = [f.quality.yaw for f in faces]

    # One person throughout: every face within the engine's match threshold of a frontal face of
    # the clip (the same person's turned faces stay well within it: at most 0.32-0.39 on the
    # test footage's 20-38 degree turns).
    baseline = frontal_baseline(times, yaws)
    frontal = [f for f in faces if abs(f.quality.yaw - baseline) < RETURN_DEGREES]
    if not frontal:
        return _refuse(attempt, "no_face")
    frontal_vectors = np.stack([f.vector for f in frontal])
    spread = max(float(engine.distances(f, frontal_vectors).min()) for f in faces)
    if spread > engine.threshold:
        return _refuse(attempt, "face_changed", spread=round(spread, 3))

    turns = head_turns(times, yaws)
    if not turns:
        return _refuse(attempt, "no_turns")
    if not follows_challenge(turns, attempt.challenge):
        return _refuse(attempt, "wrong_order", turns=len(turns))
    # A re-encoded copy of an earlier passed clip has other bytes but the same head motion.
    trace = pose_trace(times, yaws, SAMPLE_EVERY_S)
    earlier = LivenessAttempt.objects.filter(
        person=attempt.person, outcome=LivenessOutcome.PASSED
    ).values_list("pose_trace", flat=True)
    if any(same_motion(trace, previous) for previous in earlier):
        return _refuse(attempt, "replay", same_motion=True)

    references = [
        unprotect(t.embedding, template_key(t.key_version))
        for t in attempt.person.templates.filter(model_name=engine.name)
    ]
    if not references:
        return _refuse(attempt, "not_the_person", references=0)
    gallery = np.stack(references)
    probes = sorted(frontal, key=lambda f: -f.quality.score)[:VERIFY_PROBES]
    verdicts = [
        engine.decide(
            {attempt.person.pk: list(engine.distances(probe, gallery))},
            candidates=1,
            face_px=probe.quality.size_px,
            face_quality=probe.quality.score,
        ).match
        for probe in probes
    ]
    matched = verdicts.count("match")
    if matched * 2 <= len(verdicts):  # a majority of the frontal probes must be a match
        return _refuse(attempt, "not_the_person", matched=matched, probes=len(verdicts))

    chosen = [_sharpest([f for f in frontal if _usable(f)])]
    for turn in turns:
        # The sharpest face of the turn while it is well turned (motion blurs the fastest part).
        during = [
            face
            for face, time_s in zip(faces, times, strict=True)
            if turn.start_s <= time_s < turn.end_s
            and abs(face.quality.yaw - baseline) >= abs(turn.peak_degrees) * 0.6
            and _usable(face)
        ]
        chosen.append(_sharpest(during))
    chosen = [face for face in chosen if face is not None]
    attempt.pose_trace = trace
    return _pass(
        attempt,
        chosen[:TEMPLATES_FROM_CLIP],
        matched=matched,
        probes=len(verdicts),
        angles=[round(face.quality.yaw - baseline) for face in chosen[:TEMPLATES_FROM_CLIP]],
    )


def _usable(face) -> bool:
    """Good enough for a template: enrollment's size and sharpness bars (not its pose bar: a
    turned face is the point of these templates)."""
    return not any(not p.startswith("face turned") for p in face.quality.problems)


def _sharpest(faces: list):
    return max(faces, key=lambda f: f.quality.sharpness, default=None)


def _refuse(attempt: LivenessAttempt, reason_code: str, **detail: Any) -> LivenessResult:
    _finish(attempt, LivenessOutcome.FAILED, REASONS[reason_code])
    registry_services.audit_record(
        action="liveness.failed",
        actor=attempt.person.user,
        target=attempt.person,
        metadata={"attempt": attempt.pk, "reason": reason_code},
    )
    logger.info("liveness attempt=%s refused reason=%s", attempt.pk, reason_code)
    return LivenessResult(
        attempt=attempt, level=attempt.person.assurance, detail={"reason": reason_code, **detail}
    )


def _finish(attempt: LivenessAttempt, outcome: str, reason: str) -> None:
    attempt.outcome = outcome
    attempt.reason = reason
    attempt.save(update_fields=["outcome", "reason", "clip_sha256", "pose_trace"])


def _pass(attempt: LivenessAttempt, faces: list, **detail: Any) -> LivenessResult:
    version = current_template_key_version()
    limit = settings.ENROLLMENT_MAX_PHOTOS
    with transaction.atomic():
        person = Person.objects.select_for_update().get(pk=attempt.person.pk)
        room = max(0, limit - person.templates.count())
        stored = [
            face_template_store(person=person, face=face, key_version=version)
            for face in faces[:room]
        ]
        if stored:
            # New templates take the person's opt-out flag in this transaction, as at enrollment.
            consent_services.templates_optout_sync(person_id=person.pk)
        now = timezone.now()
        person.liveness_passed_at = now
        person.templates_confirmed_at = now
        person.retention_reminded_at = None
        person.save(
            update_fields=["liveness_passed_at", "templates_confirmed_at", "retention_reminded_at"]
        )
        person = registry_services.assurance_refresh(person=person)
        _finish(attempt, LivenessOutcome.PASSED, "")
        registry_services.audit_record(
            action="liveness.passed",
            actor=person.user,
            target=person,
            metadata={"attempt": attempt.pk, "templates": len(stored)},
        )
    attempt.person = person
    logger.info("liveness attempt=%s passed templates=%d", attempt.pk, len(stored))
    return LivenessResult(
        attempt=attempt,
        templates_stored=len(stored),
        level=person.assurance,
        detail={"templates": len(stored), **detail},
    )
