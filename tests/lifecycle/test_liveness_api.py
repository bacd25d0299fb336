"""The live capture's API pair: a personal token with ``profile:write`` asks for a challenge and
sends the clip; other callers are refused; an MP4 clip following the challenge passes."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from lifecycle.services.enrollment import person_enroll
from registry.models import AssuranceLevel
from registry.services import api_key_create, organisation_create, person_create
from tests.lifecycle import liveness_clips as clips

pytestmark = pytest.mark.django_db


def bearer(key: str | None) -> APIClient:
    client = APIClient()
    if key:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.fixture
def person(db):
    person = person_create(email="api-live@example.org", display_name="Api Live")
    assert person_enroll(person=person, images=clips.reference_photos()).accepted
    return person


def token(person, *scopes: str) -> str:
    _key, secret = api_key_create(
        user=person.user, name="t", scopes=list(scopes), created_by=person.user
    )
    return secret


def test_only_the_persons_token_with_profile_write_gets_a_challenge(person):
    organisation = organisation_create(name="Some Studio", kind="studio", owner=None)
    _key, org_secret = api_key_create(
        organisation=organisation, name="k", scopes=["consent:read"], created_by=None
    )
    assert bearer(None).post("/api/v1/me/liveness").status_code == 401
    assert bearer(token(person, "profile:read")).post("/api/v1/me/liveness").status_code == 403
    assert bearer(org_secret).post("/api/v1/me/liveness").status_code == 403
    response = bearer(token(person, "profile:write")).post("/api/v1/me/liveness")
    assert response.status_code == 201
    assert response.json()["challenge"][0] in ("left", "right")


def test_a_non_video_clip_is_a_plain_415(person):
    client = bearer(token(person, "profile:write"))
    nonce = client.post("/api/v1/me/liveness").json()["nonce"]
    response = client.post(
        "/api/v1/me/liveness/clip",
        {"nonce": nonce, "clip": SimpleUploadedFile("clip.webm", b"just some text")},
        format="multipart",
    )
    assert response.status_code == 415
    assert "not a video" in response.json()["error"]["message"]


@pytest.mark.slow
def test_an_mp4_clip_following_the_challenge_passes(person):
    client = bearer(token(person, "profile:write"))
    challenge = client.post("/api/v1/me/liveness").json()
    clip = clips.encode(clips.challenge_frames(challenge["challenge"]), container="mp4")
    response = client.post(
        "/api/v1/me/liveness/clip",
        {"nonce": challenge["nonce"], "clip": SimpleUploadedFile("clip.mp4", clip)},
        format="multipart",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["passed"] and body["reason"] == "" and body["templates_added"] >= 2
    assert body["level"] == AssuranceLevel.LIVENESS
