"""Live selfie capture, service level: a clip that follows the challenge passes and adds turned
templates; a still photo, someone else, ignored turns, a replay, two faces, a spent or expired
challenge, too many attempts and unreadable uploads are refused with a plain reason."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from lifecycle.models import LivenessAttempt, LivenessOutcome
from lifecycle.services import liveness
from lifecycle.services.enrollment import person_enroll
from matching.video import NotAVideo, VideoTooLarge
from registry.lib.errors import Conflict, ValidationFailed
from registry.models import AssuranceLevel, AuditEvent
from registry.services import person_create
from tests.lifecycle import liveness_clips as clips

pytestmark = pytest.mark.django_db


def opposite(challenge: list[str]) -> list[str]:
    return ["right" if step == "left" else "left" for step in challenge]


@pytest.fixture
def person(db):
    person = person_create(email="live@example.org", display_name="Live Person")
    result = person_enroll(person=person, images=clips.reference_photos())
    assert len(result.accepted) == 3, result.as_dict()
    return person


def verify(person, frames, *, challenge=None, container="mp4"):
    attempt = liveness.liveness_challenge_create(person=person)
    if challenge is not None:
        attempt.challenge = challenge
        attempt.save(update_fields=["challenge"])
    return liveness.liveness_clip_verify(
        attempt=attempt, clip=clips.encode(frames(attempt.challenge), container=container)
    )


def test_the_challenge_is_two_or_three_alternating_turns_bound_to_a_fresh_nonce(person):
    attempts = [liveness.liveness_challenge_create(person=person) for _ in range(5)]
    for attempt in attempts:
        assert len(attempt.challenge) in (2, 3)
        assert all(a != b for a, b in zip(attempt.challenge, attempt.challenge[1:], strict=False))
        assert set(attempt.challenge) <= {"left", "right"}
        assert attempt.expires_at - attempt.created_at <= timedelta(minutes=5)
    assert len({a.nonce for a in attempts}) == 5
    assert all(len(a.nonce) >= 40 for a in attempts)


@pytest.mark.slow
def test_a_clip_following_the_challenge_passes_adds_turned_templates_and_cannot_be_replayed(
    person,
):
    before = person.templates.count()
    attempt = liveness.liveness_challenge_create(person=person)
    clip = clips.encode(clips.challenge_frames(attempt.challenge), container="webm")

    result = liveness.liveness_clip_verify(attempt=attempt, clip=clip)

    assert result.passed, result.detail
    person.refresh_from_db()
    assert person.assurance == AssuranceLevel.LIVENESS
    assert person.liveness_passed_at is not None
    # The frontal face and each turn's sharpest well-turned face that meets enrollment's size
    # and sharpness bars (this webcam footage blurs during most turns): several angles.
    assert 2 <= result.templates_stored <= 1 + len(attempt.challenge)
    assert person.templates.count() == before + result.templates_stored
    angles = result.detail["angles"]
    assert abs(angles[0]) < 8 and any(abs(angle) >= 15 for angle in angles[1:]), angles
    event = AuditEvent.objects.get(action="liveness.passed")
    assert event.metadata == {"attempt": attempt.pk, "templates": result.templates_stored}

    # The same bytes again, even for a challenge with the same turns: refused before analysis.
    again = liveness.liveness_challenge_create(person=person)
    again.challenge = attempt.challenge
    again.save(update_fields=["challenge"])
    replay = liveness.liveness_clip_verify(attempt=again, clip=clip)
    assert not replay.passed
    assert replay.attempt.reason.startswith("This clip was already used")

    # The same frames re-encoded (other bytes): the same head motion, refused too.
    reencoded = liveness.liveness_challenge_create(person=person)
    reencoded.challenge = attempt.challenge
    reencoded.save(update_fields=["challenge"])
    copy = clips.encode(clips.challenge_frames(attempt.challenge), container="mp4")
    result = liveness.liveness_clip_verify(attempt=reencoded, clip=copy)
    assert not result.passed and result.detail == {"reason": "replay", "same_motion": True}


@pytest.mark.slow
def test_a_still_photo_held_to_the_camera_is_refused(person):
    result = verify(person, lambda _challenge: clips.still_frames())
    assert not result.passed
    assert result.attempt.reason.startswith("We did not see your head turn")
    person.refresh_from_db()
    assert person.assurance != AssuranceLevel.LIVENESS
    assert person.liveness_passed_at is None


@pytest.mark.slow
def test_someone_elses_clip_following_the_challenge_is_refused(person):
    templates = person.templates.count()
    # Her footage's turns are cut for this challenge (its right turn has a wobble that a
    # three-turn challenge reusing it could read as an extra turn); identity is what is tested.
    result = verify(
        person,
        lambda challenge: clips.challenge_frames(challenge, person="katie"),
        challenge=["left", "right"],
    )
    assert not result.passed
    assert result.attempt.reason.startswith(
        "This clip does not look like the person in your photos"
    )
    assert person.templates.count() == templates


@pytest.mark.slow
def test_a_clip_ignoring_the_challenge_is_refused(person):
    result = verify(person, lambda challenge: clips.challenge_frames(opposite(challenge)))
    assert not result.passed
    assert result.attempt.reason.startswith("The head turns did not follow the order asked")
    assert AuditEvent.objects.filter(action="liveness.failed").count() == 1


@pytest.mark.slow
def test_two_faces_are_refused(person):
    result = verify(
        person, lambda challenge: clips.with_second_face(clips.challenge_frames(challenge))
    )
    assert not result.passed
    assert result.attempt.reason.startswith("We saw two faces")


def test_a_spent_or_expired_challenge_is_refused(person):
    attempt = liveness.liveness_challenge_create(person=person)
    with pytest.raises(NotAVideo):
        liveness.liveness_clip_verify(attempt=attempt, clip=b"not a video at all")
    attempt.refresh_from_db()
    assert attempt.outcome == LivenessOutcome.FAILED and attempt.used_at is not None
    with pytest.raises(Conflict, match="already used"):
        liveness.liveness_clip_verify(attempt=attempt, clip=b"anything")

    expired = liveness.liveness_challenge_create(person=person)
    LivenessAttempt.objects.filter(pk=expired.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    expired.refresh_from_db()
    with pytest.raises(Conflict, match="expired"):
        liveness.liveness_clip_verify(attempt=expired, clip=b"anything")


def test_empty_and_oversized_uploads_are_refused_plainly(person, monkeypatch):
    with pytest.raises(ValidationFailed, match="empty"):
        liveness.liveness_clip_verify(
            attempt=liveness.liveness_challenge_create(person=person), clip=b""
        )
    monkeypatch.setattr(liveness, "MAX_CLIP_BYTES", 1000)
    with pytest.raises(VideoTooLarge) as error:
        liveness.liveness_clip_verify(
            attempt=liveness.liveness_challenge_create(person=person), clip=b"\0" * 2000
        )
    assert error.value.status_code == 413


def test_attempts_are_limited_per_hour(person):
    for _ in range(liveness.ATTEMPTS_PER_HOUR):
        liveness.liveness_challenge_create(person=person)
    with pytest.raises(liveness.AttemptsExhausted) as error:
        liveness.liveness_challenge_create(person=person)
    assert error.value.status_code == 429
    assert "attempts in the last hour" in error.value.message
    # An hour later the person may try again.
    LivenessAttempt.objects.update(created_at=timezone.now() - timedelta(minutes=61))
    liveness.liveness_challenge_create(person=person)


def test_a_person_without_reference_photos_is_asked_to_add_them_first(db):
    person = person_create(email="nophotos@example.org", display_name="No Photos")
    with pytest.raises(liveness.LivenessUnavailable, match="reference photos first"):
        liveness.liveness_challenge_create(person=person)


def test_attempts_are_in_the_persons_export_and_go_with_their_erasure(person):
    from lifecycle.services import person_erase, person_export

    attempt = liveness.liveness_challenge_create(person=person)
    exported = person_export(person=person)
    assert [a["challenge"] for a in exported["liveness_attempts"]] == [attempt.challenge]
    assert "nonce" not in exported["liveness_attempts"][0]
    person_erase(person=person)
    assert not LivenessAttempt.objects.filter(pk=attempt.pk).exists()
