"""The public log API: tree head, entries and proofs that a client can check offline."""

from __future__ import annotations

import pytest
from django.test import Client

from consent.lib import merkle, signing
from consent.lib.canonical import canonical_json
from consent.lib.treehead import verify_tree_head

pytestmark = pytest.mark.django_db


@pytest.fixture
def client() -> Client:
    return Client()


def keys(client: Client) -> list[dict]:
    return client.get("/.well-known/likeness-registry/keys.json").json()["keys"]


def test_the_tree_head_is_public_and_verifies_against_the_published_keys(client, log_of_20):
    response = client.get("/api/v1/log/tree-head")
    assert response.status_code == 200
    head = response.json()
    assert set(head) == {"tree_size", "root_hash", "timestamp", "kid", "signature"}
    assert head["tree_size"] == 20
    assert verify_tree_head(head, keys(client)) == (True, "tree head signature verified")


def test_there_is_no_tree_head_before_the_first_entry(client, db):
    response = client.get("/api/v1/log/tree-head")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "no_tree_head"


def test_an_entry_can_be_verified_end_to_end_offline(client, log_of_20):
    body = client.get("/api/v1/log/entries/6").json()
    record = signing.b64decode(body["record_bytes"])

    # The record is what was signed...
    assert canonical_json(body["record"]) == record
    ok, reason = signing.verify_envelope(body["record"], keys(client))
    assert ok, reason
    # ...its leaf is in the tree the registry signed...
    head = body["tree_head"]
    assert verify_tree_head(head, keys(client))[0]
    proof = merkle.InclusionProof.from_json(body["inclusion_proof"])
    assert proof.leaf_hash == merkle.leaf_hash(record) == signing.b64decode(body["leaf_hash"])
    assert (proof.leaf_index, proof.tree_size) == (6, head["tree_size"])
    assert signing.b64encode(proof.root) == head["root_hash"]
    proof.verify()


def test_an_unknown_entry_is_a_404_in_the_error_format(client, log_of_20):
    response = client.get("/api/v1/log/entries/20")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_inclusion_proofs_use_the_vector_layout_and_verify(client, log_of_20):
    response = client.get("/api/v1/log/inclusion-proof", {"leaf_index": 3, "tree_size": 13})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"leafIdx", "treeSize", "root", "leafHash", "proof"}
    merkle.InclusionProof.from_json(body).verify()
    assert "max-age" in response["Cache-Control"]


def test_consistency_proofs_use_the_vector_layout_and_verify(client, log_of_20):
    response = client.get("/api/v1/log/consistency-proof", {"first": 7, "second": 20})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"size1", "size2", "root1", "root2", "proof"}
    merkle.ConsistencyProof.from_json(body).verify()
    head = client.get("/api/v1/log/tree-head").json()
    assert body["root2"] == head["root_hash"]


@pytest.mark.parametrize(
    ("url", "params", "status", "code"),
    [
        ("/api/v1/log/inclusion-proof", {"leaf_index": 0}, 400, "invalid"),
        ("/api/v1/log/inclusion-proof", {"leaf_index": "x", "tree_size": 3}, 400, "invalid"),
        ("/api/v1/log/inclusion-proof", {"leaf_index": -1, "tree_size": 3}, 400, "invalid"),
        ("/api/v1/log/inclusion-proof", {"leaf_index": 3, "tree_size": 3}, 400, "invalid"),
        ("/api/v1/log/inclusion-proof", {"leaf_index": 0, "tree_size": 21}, 404, "beyond_log"),
        (
            "/api/v1/log/inclusion-proof",
            {"leaf_index": 0, "tree_size": 10**30},
            400,
            "invalid",
        ),
        ("/api/v1/log/consistency-proof", {"first": 5, "second": 4}, 400, "invalid"),
        ("/api/v1/log/consistency-proof", {"first": 5, "second": 40}, 404, "beyond_log"),
        ("/api/v1/log/consistency-proof", {}, 400, "invalid"),
    ],
)
def test_bad_proof_requests_get_a_clear_error(client, log_of_20, url, params, status, code):
    response = client.get(url, params)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]


def test_the_log_api_is_read_only(client, log_of_20):
    for url in ("/api/v1/log/tree-head", "/api/v1/log/entries/0"):
        assert client.post(url, {}, content_type="application/json").status_code == 405
