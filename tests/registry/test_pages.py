"""The people's pages work end to end with Django's test client (the browser test drives the
same flow in Chromium)."""

from __future__ import annotations

import json
import re

import pytest
from django.core import mail

from registry.models import FaceTemplate, Person, User

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


def _signup(client, email="pat@example.org"):
    return client.post(
        "/signup/",
        {
            "display_name": "Pat Doe",
            "email": email,
            "password": PASSWORD,
            "password_again": PASSWORD,
        },
    )


def test_signup_verify_enroll_delete_export_and_delete_account(client, faces_dir, derived):
    response = _signup(client)
    assert response.status_code == 302 and response["Location"] == "/me/"
    person = Person.objects.get(user__email="pat@example.org")
    assert person.assurance == "self_asserted"

    (message,) = mail.outbox
    link = re.search(r"https?://\S+/verify/\S+/", message.body).group(0)
    response = client.get(link[link.index("/verify/") :])
    assert response.status_code == 302
    person.refresh_from_db()
    assert person.assurance == "email_verified"
    # The link is one-time.
    assert client.get(link[link.index("/verify/") :]).status_code == 400

    with (
        open(faces_dir / "people/obama/obama.jpg", "rb") as a,
        open(faces_dir / "people/obama/obama2.jpg", "rb") as b,
    ):
        response = client.post("/me/photos/", {"photos": [a, b]})
    assert response.status_code == 200
    assert FaceTemplate.objects.filter(person=person).count() == 2
    assert "2 photos accepted." in response.content.decode()

    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client.post(
        "/me/photos/",
        {"photos": [SimpleUploadedFile("group.jpg", derived["two_faces"], "image/jpeg")]},
    )
    assert response.status_code == 400
    assert "group.jpg: refused — two faces found" in response.content.decode()

    template = FaceTemplate.objects.filter(person=person).first()
    response = client.post(f"/me/photos/{template.pk}/delete/")
    assert response.status_code == 302
    assert FaceTemplate.objects.filter(person=person).count() == 1

    response = client.get("/me/export/")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    exported = json.loads(response.content)
    assert exported["account"]["email"] == "pat@example.org"
    assert len(exported["templates"]) == 1

    response = client.post("/me/delete/", {"confirm": "delete my account", "password": "wrong"})
    assert response.status_code == 200 and Person.objects.filter(pk=person.pk).exists()
    response = client.post("/me/delete/", {"confirm": "delete my account", "password": PASSWORD})
    assert response.status_code == 200
    assert not Person.objects.filter(pk=person.pk).exists()
    assert not User.objects.filter(email="pat@example.org").exists()
    assert client.get("/me/").status_code == 302  # signed out


def test_pages_need_a_session_and_csrf(client, make_person):
    assert client.get("/me/").status_code == 302
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    person = make_person(password=PASSWORD)
    strict.force_login(person.user)
    assert strict.post("/me/confirm/").status_code == 403


def test_a_duplicate_email_is_a_form_error_not_a_crash(client):
    _signup(client)
    client.logout()
    response = _signup(client)
    assert response.status_code == 200
    assert "already exists" in response.content.decode()


def test_personal_tokens_page_shows_the_token_once(client, make_person):
    person = make_person(password=PASSWORD)
    client.force_login(person.user)
    response = client.post("/me/tokens/", {"name": "script", "scopes": ["profile:read"]})
    token = re.search(r'<pre id="new-token">(lr_[^<]+)</pre>', response.content.decode()).group(1)
    assert client.get("/me/tokens/").content.decode().count(token) == 0
    api = client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.status_code == 200
    assert api.json()["subject"] == person.public_id


def test_the_api_enforces_csrf_for_browser_sessions(make_person):
    from django.test import Client

    person = make_person(password=PASSWORD)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(person.user)
    assert browser.get("/api/v1/me").status_code == 200
    response = browser.patch(
        "/api/v1/me", data={"display_name": "X"}, content_type="application/json"
    )
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]
    browser.get("/me/")  # sets the CSRF cookie
    token = browser.cookies["csrftoken"].value
    response = browser.patch(
        "/api/v1/me",
        data={"display_name": "X"},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert response.status_code == 200


def test_the_verification_email_can_be_sent_again(client, make_person):
    person = make_person(password=PASSWORD)
    client.force_login(person.user)
    mail.outbox.clear()
    response = client.post("/me/verify-email/")
    assert response.status_code == 302
    (message,) = mail.outbox
    assert "/verify/" in message.body


def test_an_unavailable_face_engine_is_a_clear_503_not_a_crash(client, make_person, photo):
    from matching.engine.errors import FaceEngineUnavailable

    person = make_person(password=PASSWORD)
    client.force_login(person.user)

    class BrokenEngine:
        def analyse(self, image):
            raise FaceEngineUnavailable("Face model files are missing.")

    from unittest import mock

    from django.core.files.uploadedfile import SimpleUploadedFile

    with mock.patch("lifecycle.services.enrollment.get_engine", return_value=BrokenEngine()):
        response = client.post(
            "/me/photos/",
            {"photos": [SimpleUploadedFile("a.jpg", photo("obama/obama.jpg"), "image/jpeg")]},
        )
        assert response.status_code == 503
        assert "Face model files are missing." in response.content.decode()
        api = client.post(
            "/api/v1/me/photos",
            {"photos": [SimpleUploadedFile("a.jpg", photo("obama/obama.jpg"), "image/jpeg")]},
        )
        assert api.status_code == 503
        assert api.json()["error"]["code"] == "face_engine_unavailable"
    assert not FaceTemplate.objects.filter(person=person).exists()


def test_an_account_without_a_person_gets_the_page_that_says_so_not_an_error(client):
    operator = User.objects.create_user("operator@example.org", PASSWORD)
    client.force_login(operator)
    for response in (
        client.get("/me/"),
        client.post("/me/settings/", {"display_name": "X"}),
        client.post("/me/confirm/"),
        client.post("/me/photos/1/delete/"),
    ):
        assert response.status_code == 200
        assert response.templates[0].name == "registry/no_person.html"


def test_an_anonymous_caller_is_sent_to_sign_in_whatever_the_method(client):
    for response in (client.post("/me/"), client.get("/me/settings/"), client.get("/me/confirm/")):
        assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_one_accepted_photo_is_said_in_the_singular(client, make_person, photo):
    client.force_login(make_person().user)
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("obama.jpg", photo("obama/obama.jpg"), "image/jpeg")
    response = client.post("/me/photos/", {"photos": [upload]})
    assert response.status_code == 200
    page = response.content.decode()
    assert "1 photo accepted." in page and "photo(s)" not in page


def test_sign_in_ignores_the_case_of_the_email_address(client):
    assert _signup(client, email="Pat.Doe@Example.org").status_code == 302
    client.logout()
    response = client.post("/login/", {"username": "PAT.DOE@example.ORG", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/me/"
    assert client.get("/me/").status_code == 200
    client.logout()
    wrong = client.post("/login/", {"username": "pat.doe@example.org", "password": "nope"})
    assert wrong.status_code == 200 and client.get("/me/").status_code == 302


def test_logout_by_get_asks_for_confirmation_and_post_signs_out(client, make_person):
    client.force_login(make_person().user)
    page = client.get("/logout/")
    assert page.status_code == 200
    html = page.content.decode()
    assert '<form method="post" action="/logout/"' in html and "Stay signed in" in html
    assert client.get("/me/").status_code == 200  # a GET signs nobody out

    response = client.post("/logout/")
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/me/").status_code == 302
    assert "You are not signed in" in client.get("/logout/").content.decode()


def test_the_verification_link_uses_the_address_the_site_was_reached_on(client, settings):
    settings.SITE_URL = "http://127.0.0.1:8000"
    settings.ALLOWED_HOSTS = ["registry.example.org"]
    response = client.post(
        "/signup/",
        {
            "display_name": "Pat Doe",
            "email": "pat@example.org",
            "password": PASSWORD,
            "password_again": PASSWORD,
        },
        HTTP_HOST="registry.example.org:8443",
    )
    assert response.status_code == 302
    (message,) = mail.outbox
    assert "http://registry.example.org:8443/verify/" in message.body
    assert "127.0.0.1:8000" not in message.body


def test_a_forged_host_never_reaches_an_email(client, settings):
    settings.ALLOWED_HOSTS = ["registry.example.org"]
    response = client.post(
        "/signup/",
        {
            "display_name": "Pat Doe",
            "email": "pat@example.org",
            "password": PASSWORD,
            "password_again": PASSWORD,
        },
        HTTP_HOST="evil.example.com",
    )
    assert response.status_code == 400
    assert mail.outbox == []


def test_without_a_request_the_verification_link_uses_site_url(make_person, settings):
    from registry.services import email_verification_send

    settings.SITE_URL = "https://likeness.example.org"
    link = email_verification_send(user=make_person().user)
    assert link.startswith("https://likeness.example.org/verify/")


def test_there_is_a_favicon(client):
    page = client.get("/").content.decode()
    assert '<link rel="icon" href="/static/registry/favicon.svg" type="image/svg+xml">' in page
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"] == "/static/registry/favicon.svg"
    icon = client.get(response["Location"])
    assert icon.status_code == 200
    assert b"<svg" in b"".join(icon.streaming_content)
