"""Consent requests: a studio asks, the person approves (a signed grant) or declines."""

from __future__ import annotations

import pytest
from django.core import mail
from django.utils import timezone
from rest_framework.test import APIClient

from consent.lib import signing
from consent.lib.canonical import canonical_json, parse_json
from consent.models import ConsentRequest, Record
from tests.consent.records_factories import (
    bearer,
    make_org,
    make_person,
    org_key,
    personal_token,
)

pytestmark = pytest.mark.django_db

REQUEST = {
    "purpose": "Your likeness as the narrator of our 2027 nature series trailer",
    "categories": ["entertainment"],
    "media_types": ["video", "audio"],
    "territory": "worldwide",
    "project_ref": "NATURE-27",
}


def studio_client(studio, *scopes):
    client = APIClient()
    client.credentials(**bearer(org_key(studio, *(scopes or ("consent:request",)))))
    return client


def person_client(person):
    client = APIClient()
    client.credentials(**bearer(personal_token(person)))
    return client


def test_a_request_by_handle_is_approved_as_a_signed_grant():
    person = make_person(handle="grace")
    studio = make_org("studio")
    created = studio_client(studio).post(
        "/api/v1/consent-requests", {**REQUEST, "person": "grace"}, format="json"
    )
    assert created.status_code == 201, created.content
    request_id = created.json()["request_id"]
    assert created.json()["status"] == "pending"

    me = person_client(person)
    waiting = me.get("/api/v1/me/consent/requests").json()["results"]
    assert [r["request_id"] for r in waiting] == [request_id]
    assert waiting[0]["organisation_name"] == studio.name

    approved = me.post(f"/api/v1/me/consent/requests/{request_id}/approve", {}, format="json")
    assert approved.status_code == 201, approved.content
    grant = Record.objects.get(record_id=approved.json()["record_id"])
    assert grant.kind == "grant" and grant.organisation == studio and grant.person == person
    assert grant.purpose == REQUEST["purpose"] and grant.media_types == ["audio", "video"]
    assert me.get("/api/v1/me/consent/requests").json()["results"] == []

    listed = studio_client(studio).get("/api/v1/consent-requests").json()["results"]
    assert listed[0]["status"] == "approved" and listed[0]["grant"] == grant.record_id
    held = studio_client(studio, "consent:read").get("/api/v1/consent-grants").json()["results"]
    assert [g["record_id"] for g in held] == [grant.record_id]

    again = me.post(f"/api/v1/me/consent/requests/{request_id}/approve", {}, format="json")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_answered"


def test_a_request_can_be_declined_and_then_cannot_be_approved():
    person = make_person(handle="linus")
    studio = make_org("studio")
    request_id = (
        studio_client(studio)
        .post("/api/v1/consent-requests", {**REQUEST, "person": "linus"}, format="json")
        .json()["request_id"]
    )
    me = person_client(person)
    declined = me.post(f"/api/v1/me/consent/requests/{request_id}/decline")
    assert declined.status_code == 200 and declined.json()["status"] == "declined"
    assert me.post(f"/api/v1/me/consent/requests/{request_id}/approve").status_code == 409
    assert not Record.objects.filter(kind="grant").exists()


def test_an_email_invitation_reaches_the_person_once_they_sign_up_and_verify(
    django_capture_on_commit_callbacks,
):
    studio = make_org("studio")
    with django_capture_on_commit_callbacks(execute=True):
        created = studio_client(studio).post(
            "/api/v1/consent-requests",
            {**REQUEST, "email": "New.Person@Example.test"},
            format="json",
        )
    assert created.status_code == 201
    assert created.json()["person"] is None
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["new.person@example.test"]
    assert "/me/consent/requests/" in mail.outbox[0].body

    person = make_person(email="new.person@example.test", verified=False)
    me = person_client(person)
    assert me.get("/api/v1/me/consent/requests").json()["results"] == []
    request_id = created.json()["request_id"]
    assert me.post(f"/api/v1/me/consent/requests/{request_id}/approve").status_code == 404

    person.user.email_verified_at = timezone.now()
    person.user.save(update_fields=["email_verified_at"])
    assert [r["request_id"] for r in me.get("/api/v1/me/consent/requests").json()["results"]] == [
        request_id
    ]
    assert me.post(f"/api/v1/me/consent/requests/{request_id}/approve").status_code == 201
    answered = ConsentRequest.objects.get(request_id=request_id)
    assert answered.person == person and answered.invite_email == ""


def test_an_email_invitation_does_not_reveal_whether_the_address_is_registered():
    make_person(email="known@example.test")
    studio = make_org("studio")
    client = studio_client(studio)
    known = client.post("/api/v1/consent-requests", {**REQUEST, "email": "known@example.test"})
    unknown = client.post("/api/v1/consent-requests", {**REQUEST, "email": "nobody@example.test"})
    assert known.status_code == unknown.status_code == 201
    shape = {key for key in known.json() if key not in ("request_id", "created_at")}
    assert shape == {key for key in unknown.json() if key not in ("request_id", "created_at")}
    assert known.json()["person"] is None and unknown.json()["person"] is None


def test_someone_else_cannot_see_or_answer_a_request():
    make_person(handle="owner")
    studio = make_org("studio")
    request_id = (
        studio_client(studio)
        .post("/api/v1/consent-requests", {**REQUEST, "person": "owner"}, format="json")
        .json()["request_id"]
    )
    intruder = person_client(make_person())
    assert intruder.get("/api/v1/me/consent/requests").json()["results"] == []
    assert intruder.post(f"/api/v1/me/consent/requests/{request_id}/approve").status_code == 404
    assert intruder.post(f"/api/v1/me/consent/requests/{request_id}/decline").status_code == 404
    # Another studio cannot list or withdraw it either.
    other = studio_client(make_org("studio"))
    assert other.get("/api/v1/consent-requests").json()["results"] == []
    assert other.post(f"/api/v1/consent-requests/{request_id}/withdraw").status_code == 404
    assert (
        studio_client(studio)
        .post(f"/api/v1/consent-requests/{request_id}/withdraw")
        .json()["status"]
        == "withdrawn"
    )


def test_who_may_ask_for_consent():
    make_person(handle="target")
    body = {**REQUEST, "person": "target"}
    assert APIClient().post("/api/v1/consent-requests", body, format="json").status_code == 401
    wrong_scope = studio_client(make_org("studio"), "consent:read")
    assert wrong_scope.post("/api/v1/consent-requests", body, format="json").status_code == 403
    verifier = studio_client(make_org("verifier"))
    assert verifier.post("/api/v1/consent-requests", body, format="json").status_code == 403
    person = person_client(make_person())
    assert person.post("/api/v1/consent-requests", body, format="json").status_code == 403
    unknown = studio_client(make_org("studio"))
    missing = unknown.post("/api/v1/consent-requests", {**REQUEST, "person": "nobody"})
    assert missing.status_code == 404
    bad = unknown.post(
        "/api/v1/consent-requests", {**REQUEST, "person": "target", "territory": "Europe"}
    )
    assert bad.status_code == 400


def test_a_person_can_co_sign_the_grant_with_their_own_key():
    person = make_person(handle="hedy")
    studio = make_org("studio")
    request_id = (
        studio_client(studio)
        .post("/api/v1/consent-requests", {**REQUEST, "person": "hedy"}, format="json")
        .json()["request_id"]
    )
    me = person_client(person)
    private_key = signing.generate_private_key()
    public = signing.b64encode(signing.public_key_to_bytes(private_key))
    registered = me.post("/api/v1/me/consent/keys", {"public_key": public}, format="json")
    assert registered.status_code == 201
    draft = me.post(
        "/api/v1/me/consent/drafts", {"kind": "grant", "request_id": request_id}, format="json"
    ).json()["payload"]
    signature = signing.b64encode(signing.sign(private_key, canonical_json(draft)))
    approved = me.post(
        f"/api/v1/me/consent/requests/{request_id}/approve",
        {
            "person_signature": signature,
            "record_id": draft["record_id"],
            "issued_at": draft["issued_at"],
        },
        format="json",
    )
    assert approved.status_code == 201, approved.content
    assert approved.json()["co_signed"] is True
    grant = Record.objects.get(record_id=draft["record_id"])
    envelope = parse_json(bytes(grant.log_entry.record))
    assert envelope["payload"] == draft
    assert [s["kid"] for s in envelope["signatures"]][1] == registered.json()["kid"]

    # The person's signed revocation of that grant carries both signatures too.
    draft = me.post(
        "/api/v1/me/consent/drafts",
        {"kind": "revocation", "record_id": grant.record_id},
        format="json",
    ).json()["payload"]
    revoked = me.post(
        f"/api/v1/consent-records/{grant.record_id}/revoke",
        {
            "person_signature": signing.b64encode(signing.sign(private_key, canonical_json(draft))),
            "record_id": draft["record_id"],
            "issued_at": draft["issued_at"],
        },
        format="json",
    )
    assert revoked.status_code == 201, revoked.content
    assert revoked.json()["co_signed"] is True
