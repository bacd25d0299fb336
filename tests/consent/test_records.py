"""Signed records: opt-outs, grants, revocations and attestations, in the log and in rows."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from consent import selectors, services
from consent.audit import log_audit
from consent.lib import signing
from consent.lib.canonical import canonical_json, parse_json
from consent.models import ConsentCheck, Record
from registry.lib.errors import Conflict, PermissionDeniedError, ValidationFailed
from tests.consent.records_factories import make_org, make_person

pytestmark = pytest.mark.django_db


def envelope_of(record: Record) -> dict:
    return parse_json(bytes(record.log_entry.record))


def registry_keys() -> list[dict]:
    return selectors.published_keys()


def test_an_optout_is_a_signed_log_record_that_verifies_with_the_published_keys():
    person = make_person()
    record = services.optout_record(person=person, categories=["political", "sexual"])
    envelope = envelope_of(record)
    ok, reason = signing.verify_envelope(envelope, registry_keys())
    assert ok, reason
    payload = envelope["payload"]
    assert payload["kind"] == "optout"
    assert payload["categories"] == ["political", "sexual"]
    assert payload["record_id"] == record.record_id
    assert payload["subject"] == services.subject_commitment(person) == record.subject
    # The stored bytes are exactly canonical JSON (RFC 8785) of the envelope.
    assert canonical_json(envelope) == bytes(record.log_entry.record)


def test_an_optout_for_all_uses_is_stored_as_all():
    record = services.optout_record(person=make_person(), categories=None)
    assert record.categories == ["all"]
    assert envelope_of(record)["payload"]["categories"] == ["all"]


def test_unknown_categories_are_refused():
    with pytest.raises(ValidationFailed):
        services.optout_record(person=make_person(), categories=["gaming"])


def test_records_never_carry_personal_data_in_the_clear():
    person = make_person(handle="jane-doe-1980", email="jane.doe@example.test")
    studio = make_org("studio", name="Acme Pictures")
    optout = services.optout_record(person=person, categories=None)
    grant = services.grant_record(
        person=person,
        organisation=studio,
        purpose="Jane Doe as herself in the Acme 2027 advert",
        categories=["commercial"],
        media_types=["video"],
        territory="GB",
        project_ref="ACME-2027 Jane Doe",
    )
    revocation = services.record_revoke(record=grant)
    for record in (optout, grant, revocation):
        raw = bytes(record.log_entry.record).decode()
        for personal in (person.public_id, person.display_name, "jane", "Jane", "Doe"):
            assert personal not in raw
    # The free-text terms are committed to, and the grantee can check the commitment.
    payload = envelope_of(grant)["payload"]
    assert payload["terms_digest"] == services.terms_digest(
        salt=bytes(grant.terms_salt), purpose=grant.purpose, project_ref=grant.project_ref
    )


def test_tampering_with_one_byte_of_a_record_or_its_signature_fails_verification():
    person = make_person()
    studio = make_org()
    records = [
        services.optout_record(person=person, categories=["training"]),
        services.grant_record(
            person=person,
            organisation=studio,
            purpose="A trailer",
            categories=["entertainment"],
            media_types=["video"],
            territory="worldwide",
        ),
    ]
    records.append(services.record_revoke(record=records[1]))
    records.append(services.attestation_record(person=person, verifier=make_org("verifier")))
    keys = registry_keys()
    for record in records:
        raw = bytes(record.log_entry.record)
        assert signing.verify_envelope(json.loads(raw), keys)[0]
        checked = 0
        for position in range(len(raw)):
            tampered = bytearray(raw)
            tampered[position] ^= 0x01
            try:
                envelope = json.loads(bytes(tampered))
            except (ValueError, UnicodeDecodeError):
                continue  # no longer JSON at all: nobody can take it for the record
            if envelope == json.loads(raw):
                continue  # flipped a bit of insignificant syntax the parser reads the same way
            ok, _ = signing.verify_envelope(envelope, keys)
            assert not ok, f"{record.kind}: flipping byte {position} still verifies"
            checked += 1
        assert checked > len(raw) // 2


def test_a_person_signed_record_carries_both_signatures():
    person = make_person()
    private_key = signing.generate_private_key()
    key = services.person_key_register(
        person=person, public_key=signing.public_key_to_bytes(private_key)
    )
    draft = services.record_draft(kind="optout", person=person, categories=["sexual"])
    signature = signing.sign(private_key, canonical_json(draft))
    record = services.optout_record(
        person=person,
        categories=["sexual"],
        person_signature=signature,
        record_id=draft["record_id"],
        issued_at=timezone.datetime.fromisoformat(draft["issued_at"]),
    )
    envelope = envelope_of(record)
    assert envelope["payload"] == draft
    assert [entry["kid"] for entry in envelope["signatures"]] == [
        registry_keys()[0]["kid"],
        key.kid,
    ]
    person_jwk = signing.public_key_to_jwk(
        signing.public_key_to_bytes(private_key), status="current", created_at=key.created_at
    )
    ok, reason = signing.verify_envelope(
        envelope,
        [*registry_keys(), person_jwk],
        require_signers_from=[[k["kid"] for k in registry_keys()], [key.kid]],
    )
    assert ok, reason
    assert record.person_key == key


def test_a_signature_by_someone_else_is_refused_and_nothing_is_logged():
    person = make_person()
    services.person_key_register(
        person=person, public_key=signing.public_key_to_bytes(signing.generate_private_key())
    )
    draft = services.record_draft(kind="optout", person=person, categories=None)
    forged = signing.sign(signing.generate_private_key(), canonical_json(draft))
    before = selectors.log_size()
    with pytest.raises(ValidationFailed):
        services.optout_record(
            person=person,
            categories=None,
            person_signature=forged,
            record_id=draft["record_id"],
            issued_at=timezone.datetime.fromisoformat(draft["issued_at"]),
        )
    assert selectors.log_size() == before
    assert not Record.objects.filter(person=person).exists()


def test_a_revocation_is_immediate_and_only_once():
    person = make_person()
    optout = services.optout_record(person=person, categories=["news_satire"])
    revocation = services.record_revoke(record=optout)
    optout.refresh_from_db()
    assert optout.revoked_at == revocation.created_at
    assert envelope_of(revocation)["payload"]["revokes"] == optout.record_id
    with pytest.raises(Conflict):
        services.record_revoke(record=optout)
    with pytest.raises(ValidationFailed):
        services.record_revoke(record=revocation)


def test_only_the_person_can_revoke_their_record():
    person = make_person()
    optout = services.optout_record(person=person, categories=None)
    with pytest.raises(PermissionDeniedError):
        services.record_revoke(record=optout, actor=make_person().user)
    services.record_revoke(record=optout, actor=person.user)


# --- selectors the matching app calls ---------------------------------------------------------


def test_optout_person_ids_lists_people_with_an_active_optout_covering_the_category():
    everything, political, revoked, other = (make_person() for _ in range(4))
    services.optout_record(person=everything, categories=None)
    services.optout_record(person=political, categories=["political"])
    services.record_revoke(record=services.optout_record(person=revoked, categories=None))
    services.optout_record(person=other, categories=["sexual"])

    def ids(category: str) -> set[int]:
        return set(selectors.optout_person_ids(category=category))

    assert ids("political") == {everything.pk, political.pk}
    assert ids("sexual") == {everything.pk, other.pk}
    assert ids("commercial") == {everything.pk}
    # It works as a SQL subquery.
    from registry.models import Person

    inner = selectors.optout_person_ids(category="political")
    assert set(Person.objects.filter(pk__in=inner).values_list("pk", flat=True)) == {
        everything.pk,
        political.pk,
    }


def test_optouts_covering_describes_each_covered_person():
    a, b, c = make_person(), make_person(), make_person()
    first = services.optout_record(person=a, categories=["training"])
    services.optout_record(person=a, categories=None)
    services.optout_record(person=b, categories=["sexual"])
    found = selectors.optouts_covering(person_ids=[a.pk, b.pk, c.pk], category="training")
    assert set(found) == {a.pk}
    assert found[a.pk].record_id == first.record_id
    assert found[a.pk].categories == ["training"]
    assert found[a.pk].created_at == first.created_at


def test_a_grant_decides_consent_only_for_its_use_media_territory_window_and_until_revoked():
    person, studio, other_studio = make_person(), make_org(), make_org()
    now = timezone.now()
    grant = services.grant_record(
        person=person,
        organisation=studio,
        purpose="Ad",
        categories=["commercial"],
        media_types=["image", "video"],
        territory="FR",
        valid_from=now - timedelta(days=1),
        valid_until=now + timedelta(days=30),
    )

    def decision(**overrides):
        query = {
            "person_id": person.pk,
            "organisation_id": studio.pk,
            "category": "commercial",
            "media_type": "video",
            "territory": "FR",
            "at": now,
        }
        query.update(overrides)
        found = selectors.consent_decision(**query)
        return found.result, found.record.record_id if found.record else None

    consented = (ConsentCheck.Result.CONSENTED, grant.record_id)
    not_consented = (ConsentCheck.Result.NOT_CONSENTED, None)
    assert decision() == consented
    assert decision(media_type=None, territory=None) == consented
    assert decision(category="political") == not_consented
    assert decision(media_type="audio") == not_consented
    assert decision(territory="DE") == not_consented
    assert decision(organisation_id=other_studio.pk) == not_consented
    assert decision(at=now + timedelta(days=31)) == (ConsentCheck.Result.EXPIRED, grant.record_id)
    assert decision(at=now - timedelta(days=2)) == not_consented
    services.record_revoke(record=grant)
    assert decision() == (ConsentCheck.Result.REVOKED, grant.record_id)


def test_receipt_sign_is_verifiable_offline_and_not_logged():
    from consent.lib.receipts import verify_receipt

    before = selectors.log_size()
    receipt = services.receipt_sign(kind="media_check", body={"verdict": "no_match"})
    assert selectors.log_size() == before
    payload = verify_receipt(receipt, {"keys": registry_keys()})
    assert payload["body"] == {"verdict": "no_match"}
    receipt["payload"]["body"]["verdict"] = "match"
    from consent.lib.receipts import ReceiptInvalid

    with pytest.raises(ReceiptInvalid):
        verify_receipt(receipt, {"keys": registry_keys()})


def test_erasure_keeps_records_verifiable_but_anonymous():
    from lifecycle.services import person_erase

    person = make_person()
    studio = make_org()
    services.person_checked_by(person_id=person.pk, organisation_id=studio.pk, reference="r1")
    optout = services.optout_record(person=person, categories=None)
    grant = services.grant_record(
        person=person,
        organisation=studio,
        purpose="Person 1 in a film",
        categories=["entertainment"],
        media_types=["video"],
        territory="worldwide",
        project_ref="film",
    )
    person_erase(person=person)
    for record in (optout, grant):
        record.refresh_from_db()
        assert record.person is None
        assert signing.verify_envelope(envelope_of(record), registry_keys())[0]
    assert grant.purpose == "" and grant.project_ref == "" and grant.terms_salt is None
    assert log_audit().problems == []


def test_a_persons_export_includes_their_consent_data():
    from lifecycle.services import person_export

    person = make_person()
    studio = make_org()
    grant = services.grant_record(
        person=person,
        organisation=studio,
        purpose="Export me",
        categories=["personal"],
        media_types=["image"],
        territory="worldwide",
    )
    services.consent_check(organisation=studio, person=person, category="personal")
    exported = person_export(person=person)["consent"]
    assert [r["record_id"] for r in exported["records"]] == [grant.record_id]
    assert exported["records"][0]["purpose"] == "Export me"
    assert exported["checks"][0]["result"] == "consented"
    json.dumps(exported)  # JSON-ready


def test_the_optout_subquery_can_use_the_partial_indexes():
    from django.db import connection, transaction

    for categories in (None, ["political"], ["sexual"]):
        services.optout_record(person=make_person(), categories=categories)
    query = selectors.optout_person_ids(category="political")
    sql, params = query.query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "record_optout_categories_idx" in plan or "record_active_optout_idx" in plan, plan
