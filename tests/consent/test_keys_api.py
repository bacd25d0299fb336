"""``/.well-known/likeness-registry/keys.json``: every key, current and retired, no secrets."""

from __future__ import annotations

import pytest
from django.test import Client

from consent import services
from consent.lib import signing
from consent.lib.canonical import parse_json
from consent.models import LogEntry
from tests.consent.conftest import append_records

pytestmark = pytest.mark.django_db
URL = "/.well-known/likeness-registry/keys.json"


def test_anyone_can_fetch_the_keys_without_logging_in(db):
    key = services.signing_key_current()
    response = Client().get(URL)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "keys": [
            {
                "kid": key.kid,
                "alg": "Ed25519",
                "public_key": signing.b64encode(bytes(key.public_key)),
                "status": "current",
                "created_at": key.created_at.isoformat().replace("+00:00", "Z"),
                "retired_at": None,
            }
        ]
    }


def test_no_private_key_material_is_ever_published(db):
    key = services.signing_key_current()
    private = signing.private_key_to_bytes(services._private_key(key))
    body = Client().get(URL).content
    for secret in (private, bytes(key.private_key_sealed)):
        assert signing.b64encode(secret).encode() not in body
        assert secret.hex().encode() not in body
    assert b"private" not in body


def test_after_rotation_both_keys_are_listed_and_verify_their_own_records(db):
    append_records(2)
    services.signing_key_rotate()
    append_records(2, start=2)

    keys = Client().get(URL).json()["keys"]

    assert [key["status"] for key in keys] == ["retired", "current"]
    assert keys[0]["retired_at"] is not None
    for entry in LogEntry.objects.order_by("index"):
        ok, reason = signing.verify_envelope(parse_json(bytes(entry.record)), keys)
        assert ok, reason


def test_an_empty_registry_publishes_an_empty_key_list(db):
    assert Client().get(URL).json() == {"keys": []}
