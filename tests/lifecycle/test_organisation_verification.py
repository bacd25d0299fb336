"""Organisations are verified by an operator before people trust them: a signed, audited step."""

from __future__ import annotations

import json

import pytest
from django.db import IntegrityError, transaction

from consent.audit import log_audit
from consent.lib.signing import verify_envelope
from consent.models import Record, RecordKind
from consent.selectors import published_keys
from lifecycle.services import organisation_verify
from registry.lib.errors import Conflict
from registry.models import AuditEvent, Organisation, OrganisationVerification, User
from registry.services import organisation_create

pytestmark = pytest.mark.django_db


def test_a_new_organisation_starts_unverified():
    studio = organisation_create(name="Warner Bros. Pictures", kind="studio", owner=None)
    assert studio.verification == OrganisationVerification.UNVERIFIED
    assert not studio.is_verified and studio.verified_at is None


def test_verifying_logs_a_signed_record_naming_only_the_slug_and_is_audited():
    owner = User.objects.create_user("boss@northwind.example", "a long passphrase")
    studio = organisation_create(name="Northwind Studio", kind="studio", owner=owner)
    operator = User.objects.create_superuser("ops@example.org", "a long passphrase")

    verified = organisation_verify(organisation=studio, actor=operator)

    assert verified.is_verified and verified.verified_at is not None
    record = Record.objects.get(kind=RecordKind.ORGANISATION_VERIFICATION)
    assert record.organisation_id == studio.pk and record.person_id is None
    envelope = json.loads(bytes(record.log_entry.record))
    ok, reason = verify_envelope(envelope, published_keys())
    assert ok, reason
    payload = envelope["payload"]
    assert payload["kind"] == "org_verified"
    assert payload["organisation"] == studio.slug
    assert payload["record_id"] == record.record_id
    logged = json.dumps(envelope)
    for personal in ("boss@northwind.example", "ops@example.org"):
        assert personal not in logged
    event = AuditEvent.objects.get(action="organisation.verify")
    assert event.actor == operator and event.target_id == str(studio.pk)
    assert event.metadata == {"record": record.record_id}
    assert log_audit().ok


def test_verifying_twice_logs_one_record():
    studio = organisation_create(name="Contoso Films", kind="studio", owner=None)
    organisation_verify(organisation=studio, actor=None)
    organisation_verify(organisation=studio, actor=None)
    assert Record.objects.filter(kind=RecordKind.ORGANISATION_VERIFICATION).count() == 1


def test_names_are_unique_among_verified_organisations_whatever_their_case():
    real = organisation_create(name="Warner Bros. Pictures", kind="studio", owner=None)
    impostor = organisation_create(name="WARNER BROS. PICTURES", kind="studio", owner=None)
    # Unverified organisations may share a name: nobody trusts them yet.
    assert real.slug != impostor.slug
    organisation_verify(organisation=real, actor=None)

    with pytest.raises(Conflict) as refused:
        organisation_verify(organisation=impostor, actor=None)
    assert refused.value.code == "organisation_name_taken"
    impostor.refresh_from_db()
    assert not impostor.is_verified
    # The database holds the line too, whoever writes the row.
    with pytest.raises(IntegrityError), transaction.atomic():
        Organisation.objects.filter(pk=impostor.pk).update(
            verification=OrganisationVerification.VERIFIED, verified_at=real.verified_at
        )


def test_operators_verify_organisations_with_an_admin_action(client):
    operator = User.objects.create_superuser("ops@example.org", "a long passphrase")
    client.force_login(operator)
    studio = organisation_create(name="Fabrikam Films", kind="studio", owner=None)
    listing = client.get("/admin/registry/organisation/").content.decode()
    assert "Verify the selected organisations" in listing

    client.post(
        "/admin/registry/organisation/", {"action": "verify", "_selected_action": [studio.pk]}
    )

    studio.refresh_from_db()
    assert studio.is_verified
    assert AuditEvent.objects.filter(action="organisation.verify", actor=operator).exists()
    # The state cannot be edited by hand: it would skip the signed record.
    page = client.get(f"/admin/registry/organisation/{studio.pk}/change/").content.decode()
    assert 'name="verification"' not in page


def test_the_admin_action_reports_a_name_already_verified(client):
    operator = User.objects.create_superuser("ops@example.org", "a long passphrase")
    client.force_login(operator)
    organisation_verify(
        organisation=organisation_create(name="Litware", kind="studio", owner=None), actor=None
    )
    impostor = organisation_create(name="litware", kind="studio", owner=None)

    response = client.post(
        "/admin/registry/organisation/",
        {"action": "verify", "_selected_action": [impostor.pk]},
        follow=True,
    )

    assert "already called" in response.content.decode()
    impostor.refresh_from_db()
    assert not impostor.is_verified
