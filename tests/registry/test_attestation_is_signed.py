"""A verifier's attestation raises the person's assurance and is a signed record in the log."""

import json

import pytest

from consent.lib.signing import verify_envelope
from consent.selectors import published_keys
from lifecycle.services import attestation_create
from registry import services
from registry.models import AssuranceLevel


@pytest.mark.django_db
def test_an_attestation_is_logged_as_a_signed_record_without_personal_data():
    person = services.person_create(email="ada@example.org", display_name="Ada Example")
    verifier = services.organisation_create(name="Check Ltd", kind="verifier", owner=None)

    attestation = attestation_create(
        person=person, verifier=verifier, method="passport seen in person"
    )

    person.refresh_from_db()
    assert person.assurance == AssuranceLevel.VERIFIED
    assert attestation.record is not None and attestation.record.kind == "attestation"
    envelope = json.loads(bytes(attestation.record.log_entry.record))
    ok, reason = verify_envelope(envelope, published_keys())
    assert ok, reason
    logged = json.dumps(envelope)
    for personal in ("Ada", "ada@example.org", person.public_id, "passport"):
        assert personal not in logged
