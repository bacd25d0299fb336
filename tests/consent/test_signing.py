"""Ed25519 signatures and offline verification of signed envelopes."""

from __future__ import annotations

import base64
import copy
import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from consent.lib import signing
from consent.lib.canonical import canonical_json

PAYLOAD = {"type": "opt_out", "subject": "c0mm1tm3nt", "scope": ["training", "likeness"], "v": 1}
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def jwk(private_key, *, status="current", created_at=T0, retired_at=None):
    return signing.public_key_to_jwk(
        private_key.public_key(), status=status, created_at=created_at, retired_at=retired_at
    )


@pytest.fixture
def registry_key():
    return signing.generate_private_key()


@pytest.fixture
def person_key():
    return signing.generate_private_key()


def test_a_signature_round_trips_and_fails_for_other_bytes_or_keys(registry_key, person_key):
    body = canonical_json(PAYLOAD)
    signature = signing.sign(registry_key, body)
    assert len(signature) == 64
    assert signing.verify(registry_key.public_key(), body, signature)
    assert signing.verify(signing.public_key_to_bytes(registry_key), body, signature)
    assert not signing.verify(person_key.public_key(), body, signature)
    assert not signing.verify(registry_key.public_key(), body + b" ", signature)


def test_flipping_any_single_bit_of_the_signed_bytes_or_signature_fails(registry_key):
    body = canonical_json(PAYLOAD)
    signature = signing.sign(registry_key, body)
    public = registry_key.public_key()
    for position in range(len(body)):
        tampered = bytearray(body)
        tampered[position] ^= 0x01
        assert not signing.verify(public, bytes(tampered), signature), position
    for position in range(len(signature)):
        tampered = bytearray(signature)
        tampered[position] ^= 0x80
        assert not signing.verify(public, body, bytes(tampered)), position


@pytest.mark.parametrize(
    ("public_key", "payload", "signature"),
    [
        (b"short", b"x", b"\x00" * 64),
        (b"\x00" * 32, b"x", b"\x00" * 64),
        (None, b"x", b"\x00" * 64),
        ("key", b"x", b"\x00" * 64),
        (b"\x01" * 32, "text", b"\x00" * 64),
        (b"\x01" * 32, b"x", b"\x00" * 63),
        (b"\x01" * 32, b"x", None),
    ],
)
def test_verify_answers_false_instead_of_raising_on_malformed_input(public_key, payload, signature):
    assert signing.verify(public_key, payload, signature) is False


def test_the_key_id_is_the_hex_sha256_of_the_raw_public_key(registry_key):
    raw = signing.public_key_to_bytes(registry_key)
    assert len(raw) == 32
    assert signing.key_id(registry_key) == hashlib.sha256(raw).hexdigest()
    assert signing.key_id(registry_key.public_key()) == signing.key_id(raw)


def test_private_and_public_keys_survive_a_raw_bytes_round_trip(registry_key):
    raw = signing.private_key_to_bytes(registry_key)
    restored = signing.private_key_from_bytes(raw)
    assert signing.key_id(restored) == signing.key_id(registry_key)
    public = signing.public_key_from_bytes(signing.public_key_to_bytes(registry_key))
    assert signing.verify(public, b"m", signing.sign(restored, b"m"))


def test_published_key_description(registry_key):
    retired = T0 + timedelta(days=30)
    description = jwk(registry_key, status="retired", retired_at=retired)
    assert description == {
        "kid": signing.key_id(registry_key),
        "alg": "Ed25519",
        "public_key": base64.b64encode(signing.public_key_to_bytes(registry_key)).decode(),
        "status": "retired",
        "created_at": "2025-01-01T00:00:00Z",
        "retired_at": "2025-01-31T00:00:00Z",
    }


def test_base64_helpers_are_strict():
    assert signing.b64decode(signing.b64encode(b"\xfb\xff")) == b"\xfb\xff"
    assert signing.b64url_decode(signing.b64url_encode(b"\xfb\xff")) == b"\xfb\xff"
    assert signing.b64url_encode(b"\xfb\xff") == "-_8"
    for bad in ["a b=", "YQ", "YQ==\n", "-_8="]:
        with pytest.raises(ValueError):
            signing.b64decode(bad)
    for bad in ["-_8=", "+/8", "-_9"]:
        with pytest.raises(ValueError):
            signing.b64url_decode(bad)


# --- envelopes ----------------------------------------------------------------------------------


def test_an_envelope_signed_by_registry_and_person_verifies_offline(registry_key, person_key):
    envelope = signing.sign_envelope(PAYLOAD, [registry_key, person_key])
    keys = [jwk(registry_key), jwk(person_key)]
    registry_kids = [signing.key_id(registry_key)]
    person_kids = [signing.key_id(person_key)]

    ok, reason = signing.verify_envelope(
        envelope, keys, require_signers_from=[registry_kids, person_kids]
    )
    assert ok, reason
    assert reason == "2 signature(s) verified"


def test_a_required_signer_who_did_not_sign_fails_the_envelope(registry_key, person_key):
    envelope = signing.sign_envelope(PAYLOAD, [registry_key])
    ok, reason = signing.verify_envelope(
        envelope,
        [jwk(registry_key), jwk(person_key)],
        require_signers_from=[[signing.key_id(registry_key)], [signing.key_id(person_key)]],
    )
    assert not ok
    assert "required" in reason


def test_tampering_with_any_byte_of_the_payload_breaks_the_envelope(registry_key):
    envelope = signing.sign_envelope(PAYLOAD, [registry_key])
    keys = [jwk(registry_key)]
    tampered = copy.deepcopy(envelope)
    tampered["payload"]["scope"] = ["training"]
    assert signing.verify_envelope(tampered, keys) == (
        False,
        f"signature 0 by {signing.key_id(registry_key)} does not verify",
    )
    tampered = copy.deepcopy(envelope)
    tampered["payload"]["extra"] = 1
    assert not signing.verify_envelope(tampered, keys)[0]


def test_tampering_with_any_character_of_a_signature_breaks_the_envelope(registry_key):
    envelope = signing.sign_envelope(PAYLOAD, [registry_key])
    keys = [jwk(registry_key)]
    sig = envelope["signatures"][0]["sig"]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    for position in range(len(sig.rstrip("="))):
        tampered = copy.deepcopy(envelope)
        replacement = alphabet[(alphabet.index(sig[position]) + 1) % 64]
        tampered["signatures"][0]["sig"] = sig[:position] + replacement + sig[position + 1 :]
        assert not signing.verify_envelope(tampered, keys)[0], position


def test_a_signature_by_an_unpublished_key_is_not_accepted(registry_key, person_key):
    envelope = signing.sign_envelope(PAYLOAD, [registry_key, person_key])
    ok, reason = signing.verify_envelope(envelope, [jwk(registry_key)])
    assert not ok
    assert "unknown key" in reason


def test_a_key_list_that_lies_about_a_kid_is_refused(registry_key, person_key):
    envelope = signing.sign_envelope(PAYLOAD, [registry_key])
    forged = jwk(person_key)
    forged["kid"] = signing.key_id(registry_key)
    ok, reason = signing.verify_envelope(envelope, [forged])
    assert not ok
    assert "does not match its public key" in reason


def test_the_same_key_cannot_count_twice(registry_key):
    envelope = signing.sign_envelope(PAYLOAD, [registry_key, registry_key])
    ok, reason = signing.verify_envelope(envelope, [jwk(registry_key)])
    assert not ok
    assert "more than once" in reason


def test_a_retired_key_still_verifies_records_from_its_time_but_not_later(registry_key):
    retired_at = T0 + timedelta(days=10)
    keys = [jwk(registry_key, status="retired", retired_at=retired_at)]
    envelope = signing.sign_envelope(PAYLOAD, [registry_key])
    assert signing.verify_envelope(envelope, keys)[0]
    assert signing.verify_envelope(envelope, keys, at=T0 + timedelta(days=1))[0]
    ok, reason = signing.verify_envelope(envelope, keys, at=retired_at + timedelta(seconds=1))
    assert not ok
    assert "not in service" in reason


@pytest.mark.parametrize(
    "envelope",
    [
        None,
        [],
        "text",
        {"payload": PAYLOAD},
        {"payload": PAYLOAD, "signatures": []},
        {"payload": PAYLOAD, "signatures": "x"},
        {"payload": "x", "signatures": [{"kid": "a", "sig": "b"}]},
        {"payload": PAYLOAD, "signatures": [None]},
        {"payload": PAYLOAD, "signatures": [{"kid": 1, "sig": "b"}]},
        {"payload": PAYLOAD, "signatures": [{"kid": "a"}]},
        {"payload": {"x": float("nan")}, "signatures": [{"kid": "a", "sig": "b"}]},
        {"payload": PAYLOAD, "signatures": [{"kid": "a", "sig": "b"}], "more": 1},
    ],
)
def test_malformed_envelopes_are_reported_not_raised(envelope, registry_key):
    ok, reason = signing.verify_envelope(envelope, [jwk(registry_key)])
    assert ok is False
    assert reason


def test_a_badly_encoded_signature_is_reported_not_raised(registry_key):
    envelope = signing.sign_envelope(PAYLOAD, [registry_key])
    envelope["signatures"][0]["sig"] = "not base64!"
    ok, reason = signing.verify_envelope(envelope, [jwk(registry_key)])
    assert not ok
    assert "base64" in reason


SMALL_ORDER_KEYS = [
    bytes(32),
    b"\x01" + bytes(31),
    bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
    bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
    b"\xec" + b"\xff" * 30 + b"\x7f",
    b"\xee" + b"\xff" * 30 + b"\x7f",  # non-canonical encoding of the identity
]


@pytest.mark.parametrize("raw", SMALL_ORDER_KEYS, ids=lambda raw: raw[:2].hex())
def test_small_order_public_keys_are_refused_even_with_a_matching_signature(raw):
    # With the all-zero key OpenSSL accepts the all-zero signature for any message: such a key
    # would let anyone "sign" as it, so it must never verify anything.
    assert not signing.is_usable_public_key(raw)
    assert signing.verify(raw, b"any message", bytes(64)) is False
    description = {
        "kid": hashlib.sha256(raw).hexdigest(),
        "alg": "Ed25519",
        "public_key": base64.b64encode(raw).decode(),
        "status": "current",
        "created_at": None,
        "retired_at": None,
    }
    envelope = {
        "payload": PAYLOAD,
        "signatures": [{"kid": description["kid"], "sig": base64.b64encode(bytes(64)).decode()}],
    }
    ok, reason = signing.verify_envelope(envelope, [description])
    assert not ok
    assert "unusable public key" in reason


def test_freshly_generated_keys_are_usable():
    for _ in range(50):
        raw = signing.public_key_to_bytes(signing.generate_private_key())
        assert signing.is_usable_public_key(raw)
