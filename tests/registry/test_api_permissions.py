"""Who sees what through the API: a person only their own data, an organisation's members and
keys only their organisation, wrong-scope keys 403, revoked keys and anonymous callers 401.
Every test has an owner, a member of another organisation and an anonymous caller."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from lifecycle.services import person_enroll
from registry.models import FaceTemplate, MembershipRole, OrganisationKind, Person, User
from registry.services import api_key_create, api_key_revoke, membership_add, organisation_create

pytestmark = pytest.mark.django_db
PASSWORD = "a long passphrase here"


@pytest.fixture
def world(make_person, photo):
    alice = make_person("Alice", email="alice@example.org", password=PASSWORD)
    bob = make_person("Bob", email="bob@example.org", password=PASSWORD)
    person_enroll(person=alice, images=[("a.jpg", photo("obama/obama.jpg"))])
    person_enroll(person=bob, images=[("b.jpg", photo("kit_harington/kit1.jpg"))])
    owner = User.objects.create_user("owner@studio.example", PASSWORD)
    member = User.objects.create_user("member@studio.example", PASSWORD)
    outsider = User.objects.create_user("owner@platform.example", PASSWORD)
    studio = organisation_create(name="Studio", kind=OrganisationKind.STUDIO, owner=owner)
    membership_add(organisation=studio, user=member, role=MembershipRole.MEMBER)
    platform = organisation_create(name="Platform", kind=OrganisationKind.PLATFORM, owner=outsider)
    verifier = organisation_create(name="Verifier", kind=OrganisationKind.VERIFIER, owner=None)
    _k, studio_key = api_key_create(
        organisation=studio, name="s", scopes=["checks:write"], created_by=owner
    )
    _k, platform_key = api_key_create(
        organisation=platform, name="p", scopes=["checks:write"], created_by=outsider
    )
    _k, verifier_key = api_key_create(
        organisation=verifier, name="v", scopes=["attest:write"], created_by=None
    )
    return {
        "alice": alice,
        "bob": bob,
        "owner": owner,
        "member": member,
        "outsider": outsider,
        "studio": studio,
        "platform": platform,
        "studio_key": studio_key,
        "platform_key": platform_key,
        "verifier_key": verifier_key,
    }


def session(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user=user)
    return client


def bearer(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


# --- people -----------------------------------------------------------------------------------


def test_a_person_sees_only_their_own_profile_and_photos(world):
    alice = session(world["alice"].user)
    me = alice.get("/api/v1/me").json()
    assert me["subject"] == world["alice"].public_id and me["email"] == "alice@example.org"
    photos = alice.get("/api/v1/me/photos").json()
    assert [p["id"] for p in photos] == list(
        FaceTemplate.objects.filter(person=world["alice"]).values_list("pk", flat=True)
    )
    bobs = FaceTemplate.objects.get(person=world["bob"])
    assert alice.delete(f"/api/v1/me/photos/{bobs.pk}").status_code == 404
    assert FaceTemplate.objects.filter(pk=bobs.pk).exists()


def test_a_person_changes_only_their_own_data(world):
    alice = session(world["alice"].user)
    response = alice.patch("/api/v1/me", {"display_name": "Alice B."}, format="json")
    assert response.status_code == 200
    assert Person.objects.get(pk=world["alice"].pk).display_name == "Alice B."
    assert Person.objects.get(pk=world["bob"].pk).display_name == "Bob"


def test_anonymous_gets_401_everywhere_personal(world):
    anonymous = APIClient()
    for method, url in [
        ("get", "/api/v1/me"),
        ("delete", "/api/v1/me"),
        ("get", "/api/v1/me/export"),
        ("get", "/api/v1/me/photos"),
        ("get", "/api/v1/organisations"),
        ("post", "/api/v1/attestations"),
    ]:
        response = getattr(anonymous, method)(url)
        assert response.status_code == 401, url
        assert response.json()["error"]["code"] == "not_authenticated"


def test_an_organisation_key_cannot_read_any_persons_data(world):
    studio = bearer(world["studio_key"])
    assert studio.get("/api/v1/me").status_code == 403
    assert studio.get("/api/v1/me/export").status_code == 403


def test_personal_tokens_are_scoped(world):
    alice = world["alice"].user
    _k, read_only = api_key_create(user=alice, name="ro", scopes=["profile:read"], created_by=alice)
    client = bearer(read_only)
    assert client.get("/api/v1/me").status_code == 200
    response = client.patch("/api/v1/me", {"display_name": "X"}, format="json")
    assert response.status_code == 403
    assert "profile:write" in response.json()["error"]["message"]
    # A token cannot mint more tokens.
    assert (
        client.post("/api/v1/me/tokens", {"name": "x", "scopes": ["profile:write"]}).status_code
        == 403
    )


def test_enrollment_through_the_api_reports_each_photo(world, photo, derived):
    client = session(world["alice"].user)
    response = client.post(
        "/api/v1/me/photos",
        {
            "photos": [
                SimpleUploadedFile("good.jpg", photo("obama/obama2.jpg"), "image/jpeg"),
                SimpleUploadedFile("group.jpg", derived["two_faces"], "image/jpeg"),
                SimpleUploadedFile("notes.jpg", derived["text"], "image/jpeg"),
            ]
        },
        format="multipart",
    )
    assert response.status_code == 201
    body = response.json()
    assert [p["reason"] for p in body["photos"]] == [None, "two faces found", "not an image"]
    assert body["templates_total"] == 2

    response = client.post(
        "/api/v1/me/photos",
        {"photos": [SimpleUploadedFile("bomb.png", derived["bomb"], "image/png")]},
        format="multipart",
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "photos_rejected"
    assert error["detail"]["photos"][0]["reason"].startswith("image too large")


def test_api_erasure_and_export(world):
    client = session(world["bob"].user)
    export = client.get("/api/v1/me/export")
    assert export.status_code == 200 and export.json()["account"]["email"] == "bob@example.org"
    assert client.delete("/api/v1/me").status_code == 204
    assert not Person.objects.filter(pk=world["bob"].pk).exists()


def test_signup_and_malformed_json_through_the_api(db):
    from django.core import mail

    client = APIClient()
    response = client.post(
        "/api/v1/auth/signup",
        {"email": "new@example.org", "password": PASSWORD, "display_name": "New"},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["assurance"] == "self_asserted"
    link = mail.outbox[-1].body.split("/verify/")[1].split()[0]
    uid, token = link.strip("/").split("/")
    response = client.post("/api/v1/auth/verify-email", {"uid": uid, "token": token}, format="json")
    assert response.status_code == 200 and response.json()["assurance"] == "email_verified"
    again = client.post("/api/v1/auth/verify-email", {"uid": uid, "token": token}, format="json")
    assert again.status_code == 400 and again.json()["error"]["code"] == "invalid_link"
    duplicate = client.post(
        "/api/v1/auth/signup",
        {"email": "new@example.org", "password": PASSWORD, "display_name": "New"},
        format="json",
    )
    assert duplicate.status_code == 409
    weak = client.post(
        "/api/v1/auth/signup",
        {"email": "weak@example.org", "password": "123", "display_name": "W"},
        format="json",
    )
    assert weak.status_code == 400 and weak.json()["error"]["message"].startswith("password:")
    bad = client.post("/api/v1/auth/signup", "{oops", content_type="application/json")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "malformed_request"


# --- organisations ----------------------------------------------------------------------------


def test_members_see_only_their_organisation(world):
    studio_slug, platform_slug = world["studio"].slug, world["platform"].slug
    for user in (world["owner"], world["member"]):
        client = session(user)
        assert [o["slug"] for o in client.get("/api/v1/organisations").json()] == [studio_slug]
        assert client.get(f"/api/v1/organisations/{studio_slug}").status_code == 200
        assert client.get(f"/api/v1/organisations/{platform_slug}").status_code == 404
        assert client.get(f"/api/v1/organisations/{platform_slug}/keys").status_code == 404
    outsider = session(world["outsider"])
    assert outsider.get(f"/api/v1/organisations/{studio_slug}/members").status_code == 404
    assert outsider.get(f"/api/v1/organisations/{studio_slug}/keys").status_code == 404


def test_keys_see_only_their_organisation_and_cannot_manage_keys(world):
    studio_slug, platform_slug = world["studio"].slug, world["platform"].slug
    key = bearer(world["studio_key"])
    assert [o["slug"] for o in key.get("/api/v1/organisations").json()] == [studio_slug]
    assert key.get(f"/api/v1/organisations/{studio_slug}").status_code == 200
    assert key.get(f"/api/v1/organisations/{platform_slug}").status_code == 404
    response = key.post(
        f"/api/v1/organisations/{studio_slug}/keys",
        {"name": "escalate", "scopes": ["webhooks:manage"]},
        format="json",
    )
    assert response.status_code == 403


def test_only_owners_create_and_revoke_keys_shown_once(world):
    slug = world["studio"].slug
    member = session(world["member"])
    denied = member.post(
        f"/api/v1/organisations/{slug}/keys",
        {"name": "m", "scopes": ["checks:read"]},
        format="json",
    )
    assert denied.status_code == 403
    owner = session(world["owner"])
    created = owner.post(
        f"/api/v1/organisations/{slug}/keys",
        {"name": "ci", "scopes": ["checks:read"]},
        format="json",
    )
    assert created.status_code == 201
    plaintext = created.json()["key"]
    listed = owner.get(f"/api/v1/organisations/{slug}/keys").json()
    assert plaintext not in str(listed)
    assert bearer(plaintext).get(f"/api/v1/organisations/{slug}").status_code == 200
    key_id = created.json()["id"]
    assert member.delete(f"/api/v1/organisations/{slug}/keys/{key_id}").status_code == 403
    assert owner.delete(f"/api/v1/organisations/{slug}/keys/{key_id}").status_code == 204
    revoked = bearer(plaintext).get(f"/api/v1/organisations/{slug}")
    assert revoked.status_code == 401
    assert revoked.json()["error"]["message"] == "This API key has been revoked."


def test_revoked_and_wrong_scope_keys(world):
    from registry.models import ApiKey

    # attest:write is needed; a checks:write key is 403, a revoked attest key is 401.
    body = {"subject": world["alice"].public_id, "method": "passport"}
    assert bearer(world["studio_key"]).post("/api/v1/attestations", body).status_code == 403
    key = ApiKey.objects.get(scopes=["attest:write"])
    api_key_revoke(key=key, actor=None)
    assert bearer(world["verifier_key"]).post("/api/v1/attestations", body).status_code == 401


def test_a_verifier_attests_and_the_person_sees_who_when_how(world):
    body = {"subject": world["alice"].public_id, "method": "passport checked in person"}
    response = bearer(world["verifier_key"]).post("/api/v1/attestations", body, format="json")
    assert response.status_code == 201
    me = session(world["alice"].user).get("/api/v1/me").json()
    assert me["assurance"] == "verified"
    (attestation,) = me["attestations"]
    assert attestation["verifier"] == "Verifier"
    assert attestation["method"] == "passport checked in person"
    assert attestation["attested_at"]


def test_a_non_verifier_organisation_cannot_attest(world):
    owner = world["owner"]
    _k, key = api_key_create(
        organisation=world["studio"], name="a", scopes=["attest:write"], created_by=owner
    )
    body = {"subject": world["alice"].public_id, "method": "trust me"}
    response = bearer(key).post("/api/v1/attestations", body, format="json")
    assert response.status_code == 403
    assert Person.objects.get(pk=world["alice"].pk).assurance != "verified"


def test_bad_uploads_are_clear_4xx_and_lose_nothing(world, photo, settings):
    client = session(world["alice"].user)
    before = FaceTemplate.objects.filter(person=world["alice"]).count()
    missing = client.post("/api/v1/me/photos", {}, format="multipart")
    assert missing.status_code == 400 and missing.json()["error"]["message"].startswith("photos:")
    as_json = client.post("/api/v1/me/photos", {"photos": "x"}, format="json")
    assert as_json.status_code == 415
    settings.ENROLLMENT_MAX_PHOTOS = 2
    too_many = client.post(
        "/api/v1/me/photos",
        {"photos": [SimpleUploadedFile(f"{i}.jpg", b"x", "image/jpeg") for i in range(3)]},
        format="multipart",
    )
    assert too_many.status_code == 400
    broken = client.post(
        "/api/v1/me/photos",
        b"--boundary\r\nContent-Disposition: form-data; name=",
        content_type="multipart/form-data; boundary=boundary",
    )
    assert broken.status_code == 400
    assert FaceTemplate.objects.filter(person=world["alice"]).count() == before
