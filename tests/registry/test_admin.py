"""Operator screens show no raw template or secret, and the actions that matter are audited."""

from __future__ import annotations

import pytest

from lifecycle.services import person_enroll
from registry.models import ApiKey, Attestation, AuditEvent, OrganisationKind, Person, User
from registry.services import api_key_create, organisation_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client):
    admin = User.objects.create_superuser("ops@example.org", "a long passphrase")
    client.force_login(admin)
    return admin


def test_person_and_key_pages_show_no_template_salt_or_hash(client, operator, make_person, photo):
    person = make_person("Screened")
    person_enroll(person=person, images=[("a.jpg", photo("obama/obama.jpg"))])
    org = organisation_create(name="Org", kind=OrganisationKind.STUDIO, owner=operator)
    key, plaintext = api_key_create(
        organisation=org, name="k", scopes=["checks:read"], created_by=operator
    )
    page = client.get(f"/admin/registry/person/{person.pk}/change/").content.decode()
    assert person.public_id in page
    assert "commitment_salt" not in page and "embedding" not in page
    template = person.templates.get()
    assert f"{float(template.embedding[0]):.6f}"[:8] not in page
    page = client.get(f"/admin/registry/apikey/{key.pk}/change/").content.decode()
    assert key.prefix in page
    assert "secret_hash" not in page and plaintext.split("_", 2)[2] not in page
    assert client.get("/admin/registry/facetemplate/").status_code == 404


def test_suspending_a_person_and_an_organisation_is_audited(client, operator, make_person):
    person = make_person()
    org = organisation_create(name="Org", kind=OrganisationKind.PLATFORM, owner=None)
    _key, plaintext = api_key_create(
        organisation=org, name="k", scopes=["checks:read"], created_by=None
    )
    client.post(
        "/admin/registry/person/",
        {"action": "suspend", "_selected_action": [person.pk]},
    )
    assert Person.objects.get(pk=person.pk).suspended_at is not None
    assert AuditEvent.objects.filter(
        action="person.suspend", actor=operator, target_id=person.public_id
    ).exists()
    client.post(
        "/admin/registry/organisation/",
        {"action": "suspend", "_selected_action": [org.pk]},
    )
    assert AuditEvent.objects.filter(action="organisation.suspend", actor=operator).exists()
    response = client.get("/api/v1/organisations", HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert response.status_code == 401


def test_an_attestation_added_in_the_admin_verifies_and_is_audited(client, operator, make_person):
    person = make_person()
    verifier = organisation_create(name="V", kind=OrganisationKind.VERIFIER, owner=None)
    response = client.post(
        "/admin/registry/attestation/add/",
        {"person": person.pk, "verifier": verifier.pk, "method": "passport at the desk"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    attestation = Attestation.objects.get(person=person)
    assert attestation.attested_by == operator
    assert Person.objects.get(pk=person.pk).assurance == "verified"
    assert AuditEvent.objects.filter(action="attestation.record", actor=operator).exists()
    client.post(
        "/admin/registry/attestation/",
        {"action": "revoke", "_selected_action": [attestation.pk]},
    )
    assert Person.objects.get(pk=person.pk).assurance == "self_asserted"
    assert AuditEvent.objects.filter(action="attestation.revoke", actor=operator).exists()


def test_revoking_a_key_in_the_admin_is_audited(client, operator):
    org = organisation_create(name="Org", kind=OrganisationKind.STUDIO, owner=None)
    key, _ = api_key_create(organisation=org, name="k", scopes=["checks:read"], created_by=None)
    client.post("/admin/registry/apikey/", {"action": "revoke", "_selected_action": [key.pk]})
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None
    assert AuditEvent.objects.filter(action="api_key.revoke", actor=operator).exists()
