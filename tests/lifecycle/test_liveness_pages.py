"""The live capture's pages and JSON endpoints: sign-in and CSRF, a challenge that a reload does
not spend, and bad uploads answered 4xx with a plain message (never a 500 or a server path)."""

from __future__ import annotations

import pytest
from django.test import Client

from lifecycle.models import LivenessAttempt
from lifecycle.services import liveness
from lifecycle.services.enrollment import person_enroll
from registry.services import person_create
from tests.lifecycle import liveness_clips as clips

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


@pytest.fixture
def person(db):
    person = person_create(email="page@example.org", display_name="Page Person", password=PASSWORD)
    assert person_enroll(person=person, images=clips.reference_photos()).accepted
    return person


@pytest.fixture
def client(person):
    client = Client()
    assert client.login(username="page@example.org", password=PASSWORD)
    return client


def test_my_page_links_the_capture_next_to_the_level(client):
    page = client.get("/me/").content.decode()
    assert 'id="liveness-link"' in page and 'href="/me/liveness/"' in page


def test_the_capture_page_needs_a_sign_in(db):
    response = Client().get("/me/liveness/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_the_capture_page_asks_for_photos_first_when_there_are_none(db):
    person_create(email="bare@example.org", display_name="Bare", password=PASSWORD)
    client = Client()
    client.login(username="bare@example.org", password=PASSWORD)
    page = client.get("/me/liveness/").content.decode()
    assert "Add reference photos first" in page and "liveness.js" not in page
    response = client.post("/me/liveness/challenge/")
    assert response.status_code == 409
    assert "reference photos first" in response.json()["error"]["message"]


def test_a_reload_gets_the_same_pending_challenge(client, person):
    page = client.get("/me/liveness/")
    assert page.status_code == 200 and b"liveness.js" in page.content
    first = client.post("/me/liveness/challenge/").json()
    second = client.post("/me/liveness/challenge/").json()
    assert first["nonce"] == second["nonce"]
    assert LivenessAttempt.objects.filter(person=person).count() == 1
    assert first["seconds"] == liveness.challenge_seconds(first["challenge"])


def test_posts_need_the_csrf_token(person):
    client = Client(enforce_csrf_checks=True)
    client.login(username="page@example.org", password=PASSWORD)
    assert client.post("/me/liveness/challenge/").status_code == 403


@pytest.mark.parametrize(
    ("clip", "status", "words"),
    [
        (None, 400, "No clip was sent"),
        (b"", 400, "empty"),
        (b"%PDF-1.4 not a video", 415, "not a video"),
    ],
)
def test_bad_uploads_get_a_plain_4xx(client, clip, status, words):
    nonce = client.post("/me/liveness/challenge/").json()["nonce"]
    data = {"nonce": nonce}
    if clip is not None:
        from django.core.files.uploadedfile import SimpleUploadedFile

        data["clip"] = SimpleUploadedFile("clip.webm", clip, content_type="video/webm")
    response = client.post("/me/liveness/clip/", data)
    assert response.status_code == status, response.content
    message = response.json()["error"]["message"]
    assert words in message and "/tmp" not in message and "liveness-" not in message


def test_a_too_large_upload_gets_413(client, monkeypatch):
    from django.core.files.uploadedfile import SimpleUploadedFile

    monkeypatch.setattr(liveness, "MAX_CLIP_BYTES", 1000)
    nonce = client.post("/me/liveness/challenge/").json()["nonce"]
    response = client.post(
        "/me/liveness/clip/", {"nonce": nonce, "clip": SimpleUploadedFile("c.webm", b"\0" * 5000)}
    )
    assert response.status_code == 413
    assert "at most" in response.json()["error"]["message"]


def test_an_unknown_or_spent_nonce_is_refused(client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client.post(
        "/me/liveness/clip/", {"nonce": "made-up", "clip": SimpleUploadedFile("c.webm", b"x")}
    )
    assert response.status_code == 400
    assert "not known" in response.json()["error"]["message"]
    nonce = client.post("/me/liveness/challenge/").json()["nonce"]
    client.post("/me/liveness/clip/", {"nonce": nonce, "clip": SimpleUploadedFile("c", b"x")})
    again = client.post(
        "/me/liveness/clip/", {"nonce": nonce, "clip": SimpleUploadedFile("c.webm", b"x")}
    )
    assert again.status_code == 409
    assert "already used" in again.json()["error"]["message"]
    # A spent challenge is not handed out again: the next one is new.
    assert client.post("/me/liveness/challenge/").json()["nonce"] != nonce


def test_too_many_attempts_get_429_with_a_plain_message(client, person):
    for _ in range(liveness.ATTEMPTS_PER_HOUR):
        liveness.liveness_challenge_create(person=person)
    LivenessAttempt.objects.update(used_at="2026-01-01T00:00:00Z")
    response = client.post("/me/liveness/challenge/")
    assert response.status_code == 429
    assert "Try again in" in response.json()["error"]["message"]
