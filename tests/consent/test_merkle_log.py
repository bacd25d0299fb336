"""Appending to the transparency log and proving entries from the database."""

from __future__ import annotations

import math

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from consent import selectors
from consent.lib import merkle, signing
from consent.lib.canonical import CanonicalJSONError, canonical_json, parse_json
from consent.lib.treehead import verify_tree_head
from consent.models import LogEntry, LogState, MerkleNode, SignedTreeHead
from consent.services import MAX_RECORD_BYTES, log_append, tree_head_sign
from registry.lib.errors import NotFound, PayloadTooLarge, ValidationFailed
from tests.consent.conftest import append_records

pytestmark = pytest.mark.django_db


def leaf_hashes() -> list[bytes]:
    return [
        bytes(h) for h in LogEntry.objects.order_by("index").values_list("leaf_hash", flat=True)
    ]


def test_appends_get_consecutive_indexes_and_store_the_exact_signed_bytes(log_of_20):
    assert [entry.index for entry in log_of_20] == list(range(20))
    assert selectors.log_size() == 20
    keys = selectors.published_keys()
    for entry in LogEntry.objects.order_by("index"):
        record = bytes(entry.record)
        assert bytes(entry.leaf_hash) == merkle.leaf_hash(record)
        envelope = parse_json(record)
        assert canonical_json(envelope) == record
        assert envelope["payload"]["sequence"] == entry.index
        ok, reason = signing.verify_envelope(envelope, keys)
        assert ok, reason


def test_an_append_writes_about_two_merkle_nodes_per_entry(log_of_20):
    # 20 leaves complete 20 + 10 + 5 + 2 + 1 perfect subtrees.
    assert MerkleNode.objects.count() == 38


def test_every_append_publishes_a_signed_tree_head_that_verifies_offline(log_of_20):
    keys = selectors.published_keys()
    heads = list(SignedTreeHead.objects.order_by("tree_size"))
    assert [head.tree_size for head in heads] == list(range(1, 21))
    hashes = leaf_hashes()
    for head in heads:
        assert bytes(head.root_hash) == merkle.root_of(hashes[: head.tree_size])
        ok, reason = verify_tree_head(selectors.tree_head_description(head), keys)
        assert ok, reason
    assert selectors.latest_tree_head().tree_size == 20
    assert [h.timestamp for h in heads] == sorted(h.timestamp for h in heads)


def test_tree_head_sign_is_idempotent_for_an_unchanged_log(log_of_20):
    assert tree_head_sign().pk == selectors.latest_tree_head().pk
    assert SignedTreeHead.objects.count() == 20


def test_a_forged_tree_head_description_does_not_verify(log_of_20):
    keys = selectors.published_keys()
    description = selectors.tree_head_description(selectors.latest_tree_head())
    for field, value in [("tree_size", 19), ("timestamp", description["timestamp"] + 1)]:
        assert not verify_tree_head({**description, field: value}, keys)[0]
    other_root = signing.b64encode(merkle.leaf_hash(b"other"))
    assert not verify_tree_head({**description, "root_hash": other_root}, keys)[0]


def test_inclusion_proofs_from_the_database_verify_for_every_entry_and_size(log_of_20):
    hashes = leaf_hashes()
    for size in range(1, 21):
        root = merkle.root_of(hashes[:size])
        for index in range(size):
            proof = selectors.inclusion_proof(leaf_index=index, tree_size=size)
            assert proof.root == root
            assert proof.leaf_hash == hashes[index]
            proof.verify()


def test_consistency_proofs_from_the_database_verify_for_every_pair_of_sizes(log_of_20):
    hashes = leaf_hashes()
    for size2 in range(21):
        for size1 in range(size2 + 1):
            proof = selectors.consistency_proof(size1=size1, size2=size2)
            assert proof.root1 == merkle.root_of(hashes[:size1])
            assert proof.root2 == merkle.root_of(hashes[:size2])
            proof.verify()


def test_a_proof_costs_a_single_query_for_all_its_nodes(log_of_20, django_assert_num_queries):
    with django_assert_num_queries(1):
        selectors.inclusion_proof(leaf_index=7, tree_size=19)
    with django_assert_num_queries(1):
        selectors.consistency_proof(size1=5, size2=19)
    with django_assert_num_queries(0):
        selectors.consistency_proof(size1=0, size2=0)  # the empty tree's root is a constant


def test_missing_nodes_inside_the_log_are_an_error_not_a_404(log_of_20):
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM consent_merklenode WHERE level = 0 AND index = 7")
    with pytest.raises(merkle.MissingNodesError):
        selectors.inclusion_proof(leaf_index=7, tree_size=8)


def test_an_entry_comes_with_a_proof_against_the_latest_head(log_of_20):
    entry, head, proof = selectors.log_entry_with_proof(index=13)
    assert entry.index == 13
    assert head.tree_size == 20
    assert proof.root == bytes(head.root_hash)
    proof.verify()


def test_proofs_beyond_the_log_or_with_impossible_sizes_are_refused(log_of_20):
    with pytest.raises(NotFound):
        selectors.inclusion_proof(leaf_index=0, tree_size=21)
    with pytest.raises(ValidationFailed):
        selectors.inclusion_proof(leaf_index=5, tree_size=5)
    with pytest.raises(NotFound):
        selectors.consistency_proof(size1=1, size2=21)
    with pytest.raises(ValidationFailed):
        selectors.consistency_proof(size1=6, size2=5)
    with pytest.raises(NotFound):
        selectors.log_entry_get(index=20)


def test_a_record_signed_by_the_person_carries_both_signatures(db):
    person = signing.generate_private_key()
    person_key = signing.public_key_to_jwk(
        person.public_key(), status="current", created_at=timezone.now()
    )
    payload = {"type": "consent_grant", "subject": "commitment-abc", "scope": ["dubbing"]}
    cosignature = signing.signature_entry(signing.key_id(person), person, payload)

    entry = log_append(payload=payload, cosignatures=[cosignature], cosigner_keys=[person_key])

    envelope = parse_json(bytes(entry.record))
    registry_kids = [key["kid"] for key in selectors.published_keys()]
    assert [s["kid"] for s in envelope["signatures"]] == [registry_kids[0], person_key["kid"]]
    ok, reason = signing.verify_envelope(
        envelope,
        [*selectors.published_keys(), person_key],
        require_signers_from=[registry_kids, [person_key["kid"]]],
    )
    assert ok, reason


def test_a_cosignature_that_does_not_verify_appends_nothing(db):
    person = signing.generate_private_key()
    person_key = signing.public_key_to_jwk(
        person.public_key(), status="current", created_at=timezone.now()
    )
    payload = {"type": "consent_grant", "subject": "commitment-abc"}
    cosignature = signing.signature_entry(signing.key_id(person), person, {"other": "payload"})

    with pytest.raises(ValidationFailed, match="co-signature"):
        log_append(payload=payload, cosignatures=[cosignature], cosigner_keys=[person_key])
    with pytest.raises(ValidationFailed):
        log_append(payload=payload, cosignatures=[cosignature], cosigner_keys=[])
    assert selectors.log_size() == 0
    assert not LogEntry.objects.exists()


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"value": math.nan}, CanonicalJSONError),
        ({"value": 2**60}, CanonicalJSONError),
        ("not an object", ValidationFailed),
        ({"tree_size": 1, "root_hash": "x", "timestamp": 1}, ValidationFailed),
        ({"blob": "x" * MAX_RECORD_BYTES}, PayloadTooLarge),
    ],
    ids=["nan", "huge-int", "not-object", "tree-head-shaped", "too-large"],
)
def test_payloads_that_cannot_be_logged_safely_are_refused(db, payload, error):
    with pytest.raises(error):
        log_append(payload=payload)
    assert selectors.log_size() == 0
    assert not MerkleNode.objects.exists()


def test_a_tree_head_shaped_payload_is_refused_because_its_signature_would_pass_as_a_head(db):
    # Without the guard the registry's record signature over exactly these fields would be a
    # valid signature for a tree head the registry never computed.
    append_records(1)
    forged = {"tree_size": 99, "root_hash": signing.b64encode(bytes(32)), "timestamp": 1}
    with pytest.raises(ValidationFailed, match="tree head"):
        log_append(payload=forged)


def test_indexes_are_unique_even_if_the_lock_were_bypassed(log_of_20):
    with pytest.raises(IntegrityError), transaction.atomic():
        LogEntry.objects.create(index=3, leaf_hash=bytes(32), record=b"{}")


def test_the_log_state_row_is_recreated_if_missing(db):
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM consent_logstate")
    append_records(2)
    assert LogState.objects.get().tree_size == 2


def test_changing_any_single_byte_of_a_stored_record_is_detectable_offline(log_of_20):
    entry = LogEntry.objects.get(index=3)
    record = bytes(entry.record)
    keys = selectors.published_keys()
    for position in range(len(record)):
        tampered = bytearray(record)
        tampered[position] ^= 0x01
        tampered = bytes(tampered)
        assert merkle.leaf_hash(tampered) != bytes(entry.leaf_hash)
        try:
            envelope = parse_json(tampered)
        except CanonicalJSONError:
            continue  # no longer JSON at all
        still_canonical = canonical_json(envelope) == tampered
        assert not (still_canonical and signing.verify_envelope(envelope, keys)[0]), position


def test_an_entry_newer_than_the_latest_head_is_not_served_without_a_proof(log_of_20):
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM consent_signedtreehead WHERE tree_size > 15")
    with pytest.raises(NotFound) as caught:
        selectors.log_entry_with_proof(index=17)
    assert caught.value.code == "not_yet_signed"
    _, head, proof = selectors.log_entry_with_proof(index=14)
    assert head.tree_size == 15
    proof.verify()
