"""``manage.py verify_log`` catches every way the stored log can be changed behind our back.

Each test damages the database directly with SQL, as an intruder or a bad migration would.
"""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from consent.lib import merkle, signing
from consent.lib.canonical import canonical_json
from consent.models import LogEntry
from tests.consent.conftest import append_records

pytestmark = pytest.mark.django_db


def run_sql(sql: str, params: list | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])


def verify_log() -> tuple[bool, list[str]]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("verify_log", stdout=out, stderr=err)
    except CommandError as error:
        return False, [*err.getvalue().splitlines(), str(error)]
    return True, out.getvalue().splitlines()


def record_of(index: int) -> bytes:
    return bytes(LogEntry.objects.get(index=index).record)


def test_a_sound_log_passes(log_of_20):
    ok, lines = verify_log()
    assert ok, lines
    assert lines == ["ok: 20 entries, their signatures, nodes and tree heads verify"]


def test_an_empty_log_passes(db):
    assert verify_log() == (True, ["ok: 0 entries, their signatures, nodes and tree heads verify"])


def test_an_edited_record_is_reported(log_of_20):
    envelope = json.loads(record_of(7))
    envelope["payload"]["scope"] = ["training", "advertising"]
    run_sql("UPDATE consent_logentry SET record = %s WHERE index = 7", [canonical_json(envelope)])

    ok, lines = verify_log()

    assert not ok
    assert "entry 7: the record bytes do not match the stored leaf hash (record edited?)" in lines
    assert any(line.startswith("entry 7: signature 0 by") for line in lines)
    assert not any(line.startswith("entry 6") or line.startswith("entry 8") for line in lines)


def test_an_edited_record_with_a_recomputed_leaf_hash_is_still_caught(log_of_20):
    envelope = json.loads(record_of(4))
    envelope["payload"]["sequence"] = 400
    record = canonical_json(envelope)
    run_sql(
        "UPDATE consent_logentry SET record = %s, leaf_hash = %s WHERE index = 4",
        [record, merkle.leaf_hash(record)],
    )

    ok, lines = verify_log()

    assert not ok
    assert (
        "entry 4: the Merkle tree committed a different record at this index (record replaced?)"
        in lines
    )
    assert any(line.startswith("entry 4: signature 0 by") for line in lines)


def test_a_deleted_record_is_reported(log_of_20):
    run_sql("DELETE FROM consent_logentry WHERE index = 11")

    ok, lines = verify_log()

    assert not ok
    assert "entry 11 is missing (deleted?)" in lines
    # The surviving leaf node keeps the rest aligned: one deletion, one line (plus the summary).
    assert len(lines) == 2


def test_a_deleted_last_record_is_reported(log_of_20):
    run_sql("DELETE FROM consent_logentry WHERE index = 19")
    ok, lines = verify_log()
    assert not ok
    assert "entry 19 is missing (deleted?)" in lines


def test_reordered_records_are_reported_as_such(log_of_20):
    run_sql("UPDATE consent_logentry SET index = 1000000 WHERE index = 2")
    run_sql("UPDATE consent_logentry SET index = 2 WHERE index = 9")
    run_sql("UPDATE consent_logentry SET index = 9 WHERE index = 1000000")

    ok, lines = verify_log()

    assert not ok
    assert "entry 9 holds the record committed at index 2 (records reordered)" in lines
    assert "entry 2 holds the record committed at index 9 (records reordered)" in lines
    assert any("tree head at size 3: root" in line for line in lines)


def test_a_forged_tree_head_root_is_reported(log_of_20):
    run_sql(
        "UPDATE consent_signedtreehead SET root_hash = %s WHERE tree_size = 12",
        [merkle.leaf_hash(b"forged")],
    )

    ok, lines = verify_log()

    assert not ok
    assert "tree head at size 12: tree head signature does not verify" in lines
    assert any(line.startswith("tree head at size 12: root ") for line in lines)


def test_a_tree_head_signed_by_an_unknown_key_is_reported(log_of_20):
    intruder = signing.generate_private_key()
    run_sql(
        "UPDATE consent_signedtreehead SET kid = %s, signature = %s WHERE tree_size = 20",
        [signing.key_id(intruder), signing.sign(intruder, b"anything")],
    )
    ok, lines = verify_log()
    assert not ok
    assert (
        f"tree head at size 20: tree head is signed by unknown key {signing.key_id(intruder)}"
        in (lines)
    )


def test_a_tree_head_for_a_size_the_log_never_reached_is_reported(log_of_20):
    run_sql(
        "INSERT INTO consent_signedtreehead (tree_size, root_hash, timestamp, kid, signature) "
        "SELECT 25, root_hash, timestamp, kid, signature FROM consent_signedtreehead "
        "WHERE tree_size = 20"
    )
    ok, lines = verify_log()
    assert not ok
    assert "tree head at size 25 cannot be checked: the log has 20 of its entries" in lines


def test_a_tampered_inner_merkle_node_is_reported(log_of_20):
    run_sql(
        "UPDATE consent_merklenode SET hash = %s WHERE level = 2 AND index = 1",
        [merkle.leaf_hash(b"x")],
    )
    ok, lines = verify_log()
    assert not ok
    assert "Merkle node (level 2, index 1) does not match the records below it" in lines


def test_a_record_appended_behind_the_log_is_reported(log_of_20):
    run_sql(
        "INSERT INTO consent_logentry (index, leaf_hash, record, created_at) "
        "SELECT 20, leaf_hash, record, created_at FROM consent_logentry WHERE index = 0"
    )
    ok, lines = verify_log()
    assert not ok
    assert "1 entries lie beyond the log size 20 (inserted behind the log?)" in lines


def test_a_re_signed_record_from_an_unknown_key_is_reported(log_of_20):
    intruder = signing.generate_private_key()
    payload = json.loads(record_of(5))["payload"]
    payload["scope"] = []
    record = canonical_json(signing.sign_envelope(payload, [intruder]))
    run_sql(
        "UPDATE consent_logentry SET record = %s, leaf_hash = %s WHERE index = 5",
        [record, merkle.leaf_hash(record)],
    )
    ok, lines = verify_log()
    assert not ok
    assert f"entry 5: signature 0 is by unknown key {signing.key_id(intruder)}" in lines


def test_mass_damage_is_summarised_instead_of_flooding_the_terminal(db):
    append_records(60)
    run_sql("UPDATE consent_signedtreehead SET signature = %s", [bytes(64)])
    ok, lines = verify_log()
    assert not ok
    assert "... and 35 more problems of kind: forged tree head" in lines


def cosigned_entry(person_private_key):
    from consent.services import log_append, person_key_register
    from tests.consent.records_factories import make_person

    key = person_key_register(
        person=make_person(), public_key=signing.public_key_to_bytes(person_private_key)
    )
    payload = {"type": "test_decision", "subject": "commitment-xyz"}
    cosignature = signing.signature_entry(key.kid, person_private_key, payload)
    published = signing.public_key_to_jwk(
        bytes(key.public_key), status="current", created_at=key.created_at
    )
    return key, log_append(payload=payload, cosignatures=[cosignature], cosigner_keys=[published])


def test_a_person_co_signature_is_checked_with_their_key_on_file(log_of_20):
    person_private_key = signing.generate_private_key()
    _, entry = cosigned_entry(person_private_key)
    assert verify_log() == (
        True,
        ["ok: 21 entries, their signatures, nodes and tree heads verify"],
    )

    # Re-sign the person's part with another key under the person's kid: only the
    # co-signature is wrong, and the audit still notices.
    envelope = json.loads(bytes(entry.record))
    forged = signing.sign(signing.generate_private_key(), canonical_json(envelope["payload"]))
    envelope["signatures"][1]["sig"] = signing.b64encode(forged)
    record = canonical_json(envelope)
    run_sql(
        "UPDATE consent_logentry SET record = %s, leaf_hash = %s WHERE index = 20",
        [record, merkle.leaf_hash(record)],
    )
    ok, lines = verify_log()
    assert not ok
    assert f"entry 20: signature 1 by {envelope['signatures'][1]['kid']} does not verify" in lines


def test_a_co_signature_whose_key_was_erased_is_noted_not_reported_as_damage(log_of_20):
    key, _ = cosigned_entry(signing.generate_private_key())
    run_sql("DELETE FROM consent_personkey WHERE id = %s", [key.pk])

    ok, lines = verify_log()

    assert ok, lines
    assert lines == [
        "ok: 21 entries, their signatures, nodes and tree heads verify "
        "(1 co-signature(s) by keys no longer on file were not checked)"
    ]
