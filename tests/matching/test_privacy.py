"""What a platform can learn about a person from checks: an opaque, per-organisation reference."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from django.conf import settings
from django.test import Client

from matching.services import opaque_reference
from registry.services import api_key_create
from tests.matching.checks_fixtures import Platform, enroll

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_rate_limits")]


def test_the_reference_is_an_hmac_of_organisation_and_person_under_the_registry_key(db):
    platform = Platform("Clip Share")
    other = Platform("Other Tube")
    person = enroll("biden", ["biden/biden.jpg"])
    body = platform.check_file("people/biden/biden2.jpg").json()
    reference = body["result"]["faces"][0]["reference"]
    expected = hmac.new(
        settings.OPAQUE_REFERENCE_KEY,
        f"{platform.organisation.pk}:{person.pk}".encode(),
        hashlib.sha256,
    ).hexdigest()
    assert reference == "ref_" + expected[:32]
    assert reference == opaque_reference(
        organisation_id=platform.organisation.pk, person_id=person.pk
    )
    assert reference != opaque_reference(organisation_id=other.organisation.pk, person_id=person.pk)


def test_a_personal_token_cannot_check_media(db):
    person = enroll("biden", ["biden/biden.jpg"])
    _key, secret = api_key_create(
        user=person.user, name="mine", scopes=["profile:read"], created_by=person.user
    )
    response = Client().post(
        "/api/v1/checks",
        {"category": "commercial", "embeddings": [[0.1] * 128]},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )
    assert response.status_code == 403


def test_the_checks_page_needs_a_signed_in_person(db):
    response = Client().get("/me/checks/")
    assert response.status_code == 302
    assert "/login/" in response["Location"]
    person = enroll("biden", ["biden/biden.jpg"])
    client = Client()
    client.force_login(person.user)
    page = client.get("/me/checks/")
    assert page.status_code == 200
    assert "No check has matched you yet" in page.content.decode()


def test_a_signed_in_person_without_an_organisation_cannot_check_or_read_checks(db):
    person = enroll("biden", ["biden/biden.jpg"])
    client = Client()
    client.force_login(person.user)
    response = client.post(
        "/api/v1/checks",
        {"category": "commercial", "embeddings": [[0.1] * 128]},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert client.get("/api/v1/checks/00000000-0000-0000-0000-000000000000").status_code == 403
