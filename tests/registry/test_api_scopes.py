"""The scope each kind of credential holds on the operations that used to be guarded inside the
view: organisation management, one consent record, one check.

Session users, organisation API keys and personal tokens each meet every operation; an owner, a
member, a member of another organisation and an anonymous caller are always there.
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from consent.services import optout_record
from registry.models import MembershipRole, OrganisationKind, User
from registry.services import api_key_create, membership_add, organisation_create
from tests.consent.records_factories import make_person

pytestmark = pytest.mark.django_db
PASSWORD = "a long passphrase here"


def session(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user=user)
    return client


def bearer(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.fixture
def studio():
    owner = User.objects.create_user("owner@studio.example", PASSWORD)
    member = User.objects.create_user("member@studio.example", PASSWORD)
    outsider = User.objects.create_user("owner@platform.example", PASSWORD)
    organisation = organisation_create(name="Studio", kind=OrganisationKind.STUDIO, owner=owner)
    membership_add(organisation=organisation, user=member, role=MembershipRole.MEMBER)
    organisation_create(name="Platform", kind=OrganisationKind.PLATFORM, owner=outsider)
    _k, key = api_key_create(
        organisation=organisation,
        name="everything",
        scopes=["checks:write", "checks:read", "consent:read", "webhooks:manage"],
        created_by=owner,
    )
    return {
        "slug": organisation.slug,
        "owner": session(owner),
        "member": session(member),
        "outsider": session(outsider),
        "key": bearer(key),
        "anonymous": APIClient(),
    }


def test_organisation_management_needs_an_owners_session(studio):
    slug = studio["slug"]
    new_key = {"name": "ci", "scopes": ["checks:read"]}
    for caller, expected in [
        ("anonymous", 401),
        ("key", 403),  # even a key holding every organisation scope
        ("member", 403),
        ("outsider", 403),
        ("owner", 201),
    ]:
        response = studio[caller].post(f"/api/v1/organisations/{slug}/keys", new_key, format="json")
        assert response.status_code == expected, (caller, response.content)
        if expected == 403:
            assert "organisation:manage" in response.json()["error"]["message"]
    User.objects.create_user("new@studio.example", PASSWORD)
    member = {"email": "new@studio.example", "role": "member"}
    for caller, expected in [("key", 403), ("member", 403), ("owner", 201)]:
        response = studio[caller].post(
            f"/api/v1/organisations/{slug}/members", member, format="json"
        )
        assert response.status_code == expected, caller


def test_an_owner_manages_only_the_organisation_the_url_names(studio):
    # The owner of the platform is not an owner of the studio, whatever header they send.
    outsider = studio["outsider"]
    response = outsider.post(
        f"/api/v1/organisations/{studio['slug']}/keys",
        {"name": "x", "scopes": ["checks:read"]},
        format="json",
        HTTP_X_ORGANISATION="platform",
    )
    assert response.status_code == 403


def test_members_and_keys_lists_are_for_signed_in_members(studio):
    slug = studio["slug"]
    for path in (f"/api/v1/organisations/{slug}/members", f"/api/v1/organisations/{slug}/keys"):
        assert studio["owner"].get(path).status_code == 200
        assert studio["member"].get(path).status_code == 200
        assert studio["outsider"].get(path).status_code == 404
        assert studio["key"].get(path).status_code == 403
        assert studio["anonymous"].get(path).status_code == 401


def test_personal_tokens_never_see_or_manage_organisations(studio):
    person = make_person()
    membership_add(
        organisation=organisation_create(name="Mine", kind=OrganisationKind.STUDIO, owner=None),
        user=person.user,
        role=MembershipRole.OWNER,
    )
    _k, token = api_key_create(
        user=person.user,
        name="all",
        scopes=["profile:read", "profile:write", "consent:read", "consent:write"],
        created_by=person.user,
    )
    client = bearer(token)
    assert client.get("/api/v1/organisations").status_code == 403
    assert client.get("/api/v1/organisations/mine").status_code == 403
    created = client.post("/api/v1/organisations", {"name": "X", "kind": "studio"}, format="json")
    assert created.status_code == 403
    assert (
        client.post(
            "/api/v1/organisations/mine/keys", {"name": "x", "scopes": ["checks:read"]}
        ).status_code
        == 403
    )
    # The same person signed in creates organisations.
    signed_in = session(person.user)
    created = signed_in.post(
        "/api/v1/organisations", {"name": "X", "kind": "studio"}, format="json"
    )
    assert created.status_code == 201


def test_no_key_can_be_created_with_a_session_only_scope(studio):
    response = studio["owner"].post(
        f"/api/v1/organisations/{studio['slug']}/keys",
        {"name": "escalate", "scopes": ["organisation:manage"]},
        format="json",
    )
    assert response.status_code == 400


def test_a_profile_read_token_does_not_read_its_owners_consent_records():
    person = make_person()
    record = optout_record(person=person, categories=None, actor=person.user)
    _k, profile_only = api_key_create(
        user=person.user, name="ro", scopes=["profile:read"], created_by=person.user
    )
    _k, consent_reader = api_key_create(
        user=person.user, name="cr", scopes=["consent:read"], created_by=person.user
    )
    path = f"/api/v1/consent-records/{record.record_id}"
    denied = bearer(profile_only).get(path)
    assert denied.status_code == 403
    assert "consent:read" in denied.json()["error"]["message"]
    assert bearer(profile_only).get("/api/v1/me/consent/records").status_code == 403
    assert bearer(consent_reader).get(path).status_code == 200
    assert session(person.user).get(path).status_code == 200
    assert APIClient().get(path).status_code == 401


def test_a_check_is_read_with_checks_read_or_checks_write(studio):
    owner = User.objects.get(email="owner@studio.example")
    organisation = owner.memberships.get().organisation
    missing = "/api/v1/checks/00000000-0000-0000-0000-000000000000"
    for scopes, expected in [
        (["checks:read"], 404),
        (["checks:write"], 404),
        (["consent:read"], 403),
    ]:
        _k, key = api_key_create(
            organisation=organisation, name="k", scopes=scopes, created_by=owner
        )
        response = bearer(key).get(missing)
        assert response.status_code == expected, scopes
    denied = bearer(key).get(missing).json()["error"]["message"]
    assert "checks:read or checks:write" in denied


def test_only_an_owner_sets_which_registrations_block_and_it_is_audited(studio):
    from registry.models import AuditEvent, Organisation

    slug = studio["slug"]
    shown = studio["member"].get(f"/api/v1/organisations/{slug}").json()
    assert shown["verification"] == "unverified"
    assert shown["block_min_assurance"] == "liveness"  # the default: below it, review
    policy = {"block_min_assurance": "email_verified"}
    for caller, expected in [
        ("anonymous", 401),
        ("key", 403),
        ("member", 403),
        ("outsider", 403),
        ("owner", 200),
    ]:
        response = studio[caller].patch(f"/api/v1/organisations/{slug}", policy, format="json")
        assert response.status_code == expected, (caller, response.content)
    assert Organisation.objects.get(slug=slug).block_min_assurance == "email_verified"
    assert AuditEvent.objects.filter(action="organisation.policy").count() == 1
    bad = studio["owner"].patch(
        f"/api/v1/organisations/{slug}", {"block_min_assurance": "trust_me"}, format="json"
    )
    assert bad.status_code == 400
