"""Inviting an email address to a consent request never tells the studio whether someone with
that address is registered: the same answers, the same email, the same database work. The
studio learns who the person is when they approve; a decline gives the answer, not the person."""

from __future__ import annotations

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from tests.consent.records_factories import bearer, make_org, make_person, org_key, personal_token

pytestmark = pytest.mark.django_db

REQUEST = {
    "purpose": "Your likeness in our documentary's archive footage",
    "categories": ["entertainment"],
    "media_types": ["video"],
    "territory": "worldwide",
}
VARYING = {"request_id", "created_at"}


def _client(credential: str) -> APIClient:
    client = APIClient()
    client.credentials(**bearer(credential))
    return client


def _without_ids(body: dict) -> dict:
    return {key: value for key, value in body.items() if key not in VARYING}


def _invite(studio_client, email, capture_on_commit):
    mail.outbox.clear()
    with capture_on_commit(execute=True), CaptureQueriesContext(connection) as queries:
        response = studio_client.post(
            "/api/v1/consent-requests", {**REQUEST, "email": email}, format="json"
        )
    # The key's own bookkeeping (last_used_at, at most once a minute) is not about the address.
    sql = [q["sql"] for q in queries.captured_queries if "apikey" not in q["sql"].lower()]
    return response, sql, list(mail.outbox)


def _listed(studio_client, request_id: str) -> dict:
    response = studio_client.get("/api/v1/consent-requests")
    assert response.status_code == 200
    (found,) = [r for r in response.json()["results"] if r["request_id"] == request_id]
    return found


def test_a_registered_and_an_unknown_address_get_identical_answers(
    django_capture_on_commit_callbacks,
):
    make_person(email="known@example.test")
    studio = _client(org_key(make_org("studio"), "consent:request"))

    known, known_sql, known_mail = _invite(
        studio, "known@example.test", django_capture_on_commit_callbacks
    )
    unknown, unknown_sql, unknown_mail = _invite(
        studio, "nobody@example.test", django_capture_on_commit_callbacks
    )

    assert known.status_code == unknown.status_code == 201
    assert _without_ids(known.json()) == _without_ids(unknown.json())
    assert known.json()["person"] is None
    listed_known = _listed(studio, known.json()["request_id"])
    listed_unknown = _listed(studio, unknown.json()["request_id"])
    assert _without_ids(listed_known) == _without_ids(listed_unknown)
    assert listed_known["person"] is None
    # The same work: the same statements (no lookup of the address) and an invitation either way.
    assert len(known_sql) == len(unknown_sql)
    assert not any("registry_person" in sql for sql in known_sql)
    assert [m.to for m in known_mail] == [["known@example.test"]]
    assert [m.to for m in unknown_mail] == [["nobody@example.test"]]
    assert known_mail[0].subject == unknown_mail[0].subject
    assert known_mail[0].body == unknown_mail[0].body


def test_the_person_appears_to_the_studio_once_they_approve(django_capture_on_commit_callbacks):
    person = make_person(email="known@example.test")
    studio = _client(org_key(make_org("studio"), "consent:request"))
    created, _sql, _mail = _invite(studio, "known@example.test", django_capture_on_commit_callbacks)
    request_id = created.json()["request_id"]

    me = _client(personal_token(person))
    waiting = me.get("/api/v1/me/consent/requests").json()["results"]
    assert [r["request_id"] for r in waiting] == [request_id]
    assert _listed(studio, request_id)["person"] is None

    approved = me.post(f"/api/v1/me/consent/requests/{request_id}/approve")
    assert approved.status_code == 201
    listed = _listed(studio, request_id)
    assert listed["status"] == "approved"
    assert listed["person"] == person.public_id
    assert listed["grant"] == approved.json()["record_id"]


def test_a_decline_gives_the_studio_the_answer_but_not_the_person(
    django_capture_on_commit_callbacks,
):
    person = make_person(email="known@example.test")
    studio = _client(org_key(make_org("studio"), "consent:request"))
    created, _sql, _mail = _invite(studio, "known@example.test", django_capture_on_commit_callbacks)
    request_id = created.json()["request_id"]

    declined = _client(personal_token(person)).post(
        f"/api/v1/me/consent/requests/{request_id}/decline"
    )
    assert declined.status_code == 200 and declined.json()["status"] == "declined"
    listed = _listed(studio, request_id)
    assert listed["status"] == "declined"
    assert listed["person"] is None and listed["grant"] is None


def test_a_request_by_handle_names_the_person_the_studio_asked():
    person = make_person(handle="ada")
    studio = _client(org_key(make_org("studio"), "consent:request"))
    created = studio.post("/api/v1/consent-requests", {**REQUEST, "person": "ada"}, format="json")
    assert created.status_code == 201
    assert created.json()["person"] == person.public_id


def test_the_invitation_links_to_the_address_the_studio_reached_the_site_on(
    django_capture_on_commit_callbacks, settings
):
    settings.SITE_URL = "http://127.0.0.1:8000"
    settings.ALLOWED_HOSTS = ["registry.example.org"]
    studio = APIClient(HTTP_HOST="registry.example.org")
    studio.credentials(**bearer(org_key(make_org("studio"), "consent:request")))
    with django_capture_on_commit_callbacks(execute=True):
        response = studio.post(
            "/api/v1/consent-requests",
            {**REQUEST, "email": "invitee@example.test"},
            format="json",
        )
    assert response.status_code == 201, response.content
    (message,) = mail.outbox
    assert "http://registry.example.org/me/consent/requests/" in message.body
    assert "127.0.0.1:8000" not in message.body
