"""Bearer API keys: shown once, stored hashed, scoped, revocable, expiring, last-used time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import path
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.views import APIView

from registry.authentication import hash_secret
from registry.models import ApiKey, Organisation, OrganisationKind, User
from registry.permissions import HasScopes, request_organisation
from registry.services import api_key_create, api_key_revoke, organisation_create

pytestmark = pytest.mark.django_db


class ChecksApi(APIView):
    permission_classes = [HasScopes.require("checks:write")]

    def post(self, request):
        organisation = request_organisation(request)
        return Response({"organisation": organisation.slug if organisation else None})


urlpatterns = [path("api/v1/test-checks", ChecksApi.as_view())]


@pytest.fixture(autouse=True)
def _urls(settings):
    settings.ROOT_URLCONF = __name__


@pytest.fixture
def studio():
    owner = User.objects.create_user("owner@example.org", "a long passphrase")
    return organisation_create(name="Studio One", kind=OrganisationKind.STUDIO, owner=owner)


def _call(client, key):
    return client.post("/api/v1/test-checks", HTTP_AUTHORIZATION=f"Bearer {key}")


def test_a_key_is_stored_hashed_and_works_with_its_scope(client, studio):
    key, plaintext = api_key_create(
        organisation=studio, name="ci", scopes=["checks:write"], created_by=None
    )
    assert plaintext.startswith(f"lr_{key.prefix}_")
    stored = ApiKey.objects.get(pk=key.pk)
    assert bytes(stored.secret_hash) == hash_secret(plaintext.split("_", 2)[2])
    assert plaintext.split("_", 2)[2].encode() not in bytes(stored.secret_hash)
    response = _call(client, plaintext)
    assert response.status_code == 200
    assert response.json() == {"organisation": studio.slug}
    assert ApiKey.objects.get(pk=key.pk).last_used_at is not None


def test_last_used_is_written_at_most_once_a_minute(client, studio):
    key, plaintext = api_key_create(
        organisation=studio, name="ci", scopes=["checks:write"], created_by=None
    )
    _call(client, plaintext)
    first = ApiKey.objects.get(pk=key.pk).last_used_at
    _call(client, plaintext)
    assert ApiKey.objects.get(pk=key.pk).last_used_at == first
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=first - timedelta(minutes=2))
    _call(client, plaintext)
    assert ApiKey.objects.get(pk=key.pk).last_used_at > first


def test_wrong_scope_is_403(client, studio):
    _key, plaintext = api_key_create(
        organisation=studio, name="ro", scopes=["consent:read"], created_by=None
    )
    response = _call(client, plaintext)
    assert response.status_code == 403
    assert "checks:write" in response.json()["error"]["message"]


def test_revoked_key_is_401(client, studio):
    key, plaintext = api_key_create(
        organisation=studio, name="ci", scopes=["checks:write"], created_by=None
    )
    api_key_revoke(key=key, actor=None)
    response = _call(client, plaintext)
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "This API key has been revoked."


def test_a_key_revoked_while_in_use_is_refused_from_the_next_request(client, studio):
    key, plaintext = api_key_create(
        organisation=studio, name="ci", scopes=["checks:write"], created_by=None
    )
    assert _call(client, plaintext).status_code == 200
    api_key_revoke(key=key, actor=None)
    response = _call(client, plaintext)
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "This API key has been revoked."


def test_a_suspended_organisations_keys_are_refused_from_the_next_request(client, studio):
    _key, plaintext = api_key_create(
        organisation=studio, name="ci", scopes=["checks:write"], created_by=None
    )
    assert _call(client, plaintext).status_code == 200
    Organisation.objects.filter(pk=studio.pk).update(suspended_at=timezone.now())
    response = _call(client, plaintext)
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "This organisation is suspended."


def test_expired_key_is_401(client, studio):
    key, plaintext = api_key_create(
        organisation=studio, name="ci", scopes=["checks:write"], created_by=None
    )
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = _call(client, plaintext)
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "This API key has expired."


@pytest.mark.parametrize(
    "header",
    ["Bearer lr_nothere_secret", "Bearer garbage", "Bearer", "Bearer a b"],
)
def test_unknown_or_malformed_keys_are_401(client, studio, header):
    response = client.post("/api/v1/test-checks", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_a_wrong_secret_for_a_real_prefix_is_401(client, studio):
    key, _plaintext = api_key_create(
        organisation=studio, name="ci", scopes=["checks:write"], created_by=None
    )
    response = _call(client, f"lr_{key.prefix}_not-the-secret")
    assert response.status_code == 401


def test_anonymous_is_401_with_a_bearer_challenge(client):
    response = client.post("/api/v1/test-checks")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_unknown_scopes_are_refused(studio):
    from registry.lib.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        api_key_create(organisation=studio, name="x", scopes=["root"], created_by=None)
    with pytest.raises(ValidationFailed):
        api_key_create(organisation=studio, name="x", scopes=["profile:read"], created_by=None)


def test_a_suspended_persons_token_is_401(client, make_person):
    from registry.services import person_suspend

    person = make_person()
    _key, plaintext = api_key_create(
        user=person.user, name="t", scopes=["profile:read"], created_by=person.user
    )
    headers = {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}
    settings_urls = "registry.urls"
    from django.test import override_settings

    with override_settings(ROOT_URLCONF=settings_urls):
        assert client.get("/api/v1/me", **headers).status_code == 200
        person_suspend(person=person, actor=None)
        response = client.get("/api/v1/me", **headers)
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "This account is suspended."
