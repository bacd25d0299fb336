"""Ed25519 signatures over canonical JSON, and offline verification of signed envelopes.

A signed envelope is ``{"payload": {...}, "signatures": [{"kid": ..., "sig": ...}, ...]}``.
Every signature covers the same bytes, the RFC 8785 canonical form of ``payload``, so signers
never have to agree on an order and a verifier only needs the payload and the public keys. The
registry always signs; a record a person signs themselves carries their signature as well, and
nothing here assumes how many signatures there are.

Key ids are the hex SHA-256 of the raw 32-byte public key, so a key list cannot claim a kid for
a different key without the verifier noticing.

All binary values in JSON are standard base64 with padding, matching the Merkle proof format.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from consent.lib.canonical import CanonicalJSONError, canonical_json
from consent.lib.dates import iso_utc

ALGORITHM = "Ed25519"
PUBLIC_KEY_SIZE = 32
PRIVATE_KEY_SIZE = 32
SIGNATURE_SIZE = 64

KeyStatus = Literal["current", "retired"]


# --- base64 -------------------------------------------------------------------------------------


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str) -> bytes:
    """Strict, canonical standard base64: one string for one byte sequence.

    ``base64.b64decode`` without ``validate=True`` silently drops junk characters, which would
    let two different strings name the same signature.
    """
    if not isinstance(text, str):
        raise ValueError("base64 value must be a string")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as error:
        raise ValueError(f"not valid base64: {error}") from None
    if base64.b64encode(raw).decode("ascii") != text:
        # Non-zero padding bits would let several strings stand for the same bytes.
        raise ValueError("not canonical base64")
    return raw


def b64url_encode(data: bytes) -> str:
    """URL-safe base64 without padding (RFC 4648 §5), for values that travel in URLs."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    if not isinstance(text, str):
        raise ValueError("base64url value must be a string")
    if "=" in text:
        raise ValueError("base64url value must not be padded")
    padded = text + "=" * (-len(text) % 4)
    try:
        raw = base64.b64decode(padded.encode("ascii"), altchars=b"-_", validate=True)
    except (binascii.Error, UnicodeEncodeError) as error:
        raise ValueError(f"not valid base64url: {error}") from None
    if b64url_encode(raw) != text:
        # Non-zero trailing bits would make several strings decode to the same bytes.
        raise ValueError("not canonical base64url")
    return raw


# --- keys ---------------------------------------------------------------------------------------


def generate_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_key_to_bytes(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )


def private_key_from_bytes(raw: bytes) -> Ed25519PrivateKey:
    if len(raw) != PRIVATE_KEY_SIZE:
        raise ValueError(f"an Ed25519 private key is {PRIVATE_KEY_SIZE} bytes, got {len(raw)}")
    return Ed25519PrivateKey.from_private_bytes(raw)


def public_key_to_bytes(public_key: Ed25519PublicKey | Ed25519PrivateKey) -> bytes:
    if isinstance(public_key, Ed25519PrivateKey):
        public_key = public_key.public_key()
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


# Curve25519 in twisted Edwards form (RFC 8032 §5.1), only for vetting public keys.
_P = 2**255 - 19
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_MINUS_ONE = pow(2, (_P - 1) // 4, _P)


def _decode_point(raw: bytes) -> tuple[int, int] | None:
    """RFC 8032 §5.1.3 point decoding; None for encodings a strict verifier rejects."""
    value = int.from_bytes(raw, "little")
    sign, y = value >> 255, value & ((1 << 255) - 1)
    if y >= _P:
        return None
    u, v = (y * y - 1) % _P, (_D * y * y + 1) % _P
    x = u * pow(v, 3, _P) * pow(u * pow(v, 7, _P), (_P - 5) // 8, _P) % _P
    if v * x * x % _P == (-u) % _P:
        x = x * _SQRT_MINUS_ONE % _P
    elif v * x * x % _P != u:
        return None
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = _P - x
    return x, y


@lru_cache(maxsize=1024)
def is_usable_public_key(raw: bytes) -> bool:
    """False for encodings that are not curve points, non-canonical or of small order.

    OpenSSL accepts small-order keys (the all-zero key among them), and for those a "valid"
    signature can be produced for many messages without any private key: a person could then
    deny a record their key signed, or anyone could sign as that key. Keys are vetted once
    here (cached) so every verification path refuses them.
    """
    if len(raw) != PUBLIC_KEY_SIZE:
        return False
    point = _decode_point(raw)
    if point is None:
        return False
    x, y = point
    for _ in range(3):  # multiply by the cofactor 8 with the complete doubling formula
        xx, yy = x * x % _P, y * y % _P
        dxxyy = _D * xx * yy % _P
        x, y = (
            2 * x * y * pow(1 + dxxyy, _P - 2, _P) % _P,
            (yy + xx) * pow(1 - dxxyy, _P - 2, _P) % _P,
        )
    return (x, y) != (0, 1)


def public_key_from_bytes(raw: bytes) -> Ed25519PublicKey:
    if not isinstance(raw, bytes) or len(raw) != PUBLIC_KEY_SIZE:
        raise ValueError(f"an Ed25519 public key is {PUBLIC_KEY_SIZE} bytes")
    if not is_usable_public_key(raw):
        raise ValueError("not a usable Ed25519 public key (invalid or small-order point)")
    return Ed25519PublicKey.from_public_bytes(raw)


def key_id(public_key: Ed25519PublicKey | Ed25519PrivateKey | bytes) -> str:
    """Hex SHA-256 of the raw public key."""
    raw = public_key if isinstance(public_key, bytes) else public_key_to_bytes(public_key)
    if len(raw) != PUBLIC_KEY_SIZE:
        raise ValueError(f"an Ed25519 public key is {PUBLIC_KEY_SIZE} bytes, got {len(raw)}")
    return hashlib.sha256(raw).hexdigest()


def _parse_iso(text: Any) -> datetime | None:
    if text is None:
        return None
    if not isinstance(text, str):
        raise ValueError("key timestamps must be ISO 8601 strings")
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("key timestamps must carry a time zone")
    return moment


def public_key_to_jwk(
    public_key: Ed25519PublicKey | bytes,
    *,
    status: KeyStatus,
    created_at: datetime,
    retired_at: datetime | None = None,
) -> dict[str, Any]:
    """The published description of one key (JWK-like, as served in ``keys.json``)."""
    raw = public_key if isinstance(public_key, bytes) else public_key_to_bytes(public_key)
    if status not in ("current", "retired"):
        raise ValueError(f"unknown key status {status!r}")
    return {
        "kid": key_id(raw),
        "alg": ALGORITHM,
        "public_key": b64encode(raw),
        "status": status,
        "created_at": iso_utc(created_at),
        "retired_at": iso_utc(retired_at),
    }


# --- sign / verify ------------------------------------------------------------------------------


def sign(private_key: Ed25519PrivateKey, payload: bytes) -> bytes:
    return private_key.sign(payload)


def verify(public_key: Ed25519PublicKey | bytes, payload: bytes, signature: bytes) -> bool:
    """True only for a valid signature; any malformed input is simply not valid."""
    try:
        if isinstance(public_key, Ed25519PublicKey):
            public_key = public_key_from_bytes(public_key_to_bytes(public_key))
        else:
            public_key = public_key_from_bytes(public_key)
        if not isinstance(payload, bytes) or not isinstance(signature, bytes):
            return False
        if len(signature) != SIGNATURE_SIZE:
            return False
        public_key.verify(signature, payload)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def signature_entry(kid: str, private_key: Ed25519PrivateKey, payload: Mapping) -> dict[str, str]:
    """One ``{"kid", "sig"}`` entry for an envelope, signing the canonical payload."""
    if kid != key_id(private_key):
        raise ValueError("kid does not belong to this private key")
    return {"kid": kid, "sig": b64encode(sign(private_key, canonical_json(payload)))}


def sign_envelope(payload: Mapping, signers: Iterable[Ed25519PrivateKey]) -> dict[str, Any]:
    """Build an envelope signed by every key in ``signers`` (in that order)."""
    body = canonical_json(payload)
    signatures = []
    for private_key in signers:
        signatures.append({"kid": key_id(private_key), "sig": b64encode(sign(private_key, body))})
    return {"payload": dict(payload), "signatures": signatures}


def _key_index(keys: Iterable[Mapping[str, Any]]) -> tuple[dict[str, Mapping[str, Any]], str]:
    """Index published keys by kid, refusing a list that could mislead the verifier."""
    index: dict[str, Mapping[str, Any]] = {}
    for position, key in enumerate(keys):
        if not isinstance(key, Mapping):
            return {}, f"key {position} is not an object"
        kid = key.get("kid")
        if key.get("alg") != ALGORITHM:
            return {}, f"key {kid!r} is not an {ALGORITHM} key"
        try:
            raw = b64decode(key.get("public_key"))
            public_key_from_bytes(raw)
            actual = key_id(raw)
        except ValueError as error:
            return {}, f"key {kid!r} has an unusable public key: {error}"
        if kid != actual:
            return {}, f"key {kid!r} does not match its public key (kid should be {actual})"
        index[kid] = key
    return index, ""


def _key_valid_at(key: Mapping[str, Any], at: datetime) -> bool:
    created = _parse_iso(key.get("created_at"))
    retired = _parse_iso(key.get("retired_at"))
    if created is not None and at < created:
        return False
    return retired is None or at < retired


def verify_envelope(
    envelope: Any,
    keys: Iterable[Mapping[str, Any]],
    *,
    require_signers_from: Sequence[Collection[str]] = (),
    at: datetime | None = None,
) -> tuple[bool, str]:
    """Verify every signature of ``envelope`` against ``keys``; return ``(ok, reason)``.

    ``ok`` is True only when the envelope is well formed, carries at least one signature, no
    kid signs twice, and every signature is by a key in ``keys`` and valid over the canonical
    payload. A signature that cannot be checked (unknown kid) makes the envelope fail: an
    unverifiable signature is not evidence.

    ``require_signers_from`` lists groups of kids; each group must contribute at least one
    valid signature. A consent record signed by the person passes e.g.
    ``[registry_kids, [person_kid]]``. With ``at`` (the record's own timestamp) a key only
    counts if it was in service then (created before ``at``, retired after it), so a retired
    registry key cannot sign new records. Never raises on bad input.
    """
    try:
        if not isinstance(envelope, Mapping):
            return False, "envelope is not an object"
        if set(envelope) != {"payload", "signatures"}:
            return False, "envelope must have exactly the fields payload and signatures"
        payload = envelope["payload"]
        signatures = envelope["signatures"]
        if not isinstance(payload, Mapping):
            return False, "payload is not an object"
        if not isinstance(signatures, list) or not signatures:
            return False, "envelope carries no signatures"
        try:
            body = canonical_json(payload)
        except CanonicalJSONError as error:
            return False, f"payload is not canonicalisable: {error.message}"

        by_kid, problem = _key_index(keys)
        if problem:
            return False, problem

        signed_by: set[str] = set()
        for position, entry in enumerate(signatures):
            if not isinstance(entry, Mapping) or set(entry) != {"kid", "sig"}:
                return False, f"signature {position} must have exactly the fields kid and sig"
            kid, sig = entry["kid"], entry["sig"]
            if not isinstance(kid, str):
                return False, f"signature {position} has a non-string kid"
            if kid in signed_by:
                return False, f"key {kid} signs more than once"
            key = by_kid.get(kid)
            if key is None:
                return False, f"signature {position} is by unknown key {kid}"
            if at is not None and not _key_valid_at(key, at):
                return False, f"key {kid} was not in service at {iso_utc(at)}"
            try:
                raw_sig = b64decode(sig)
            except ValueError as error:
                return False, f"signature {position} by {kid}: {error}"
            if not verify(b64decode(key["public_key"]), body, raw_sig):
                return False, f"signature {position} by {kid} does not verify"
            signed_by.add(kid)

        for group in require_signers_from:
            if not signed_by.intersection(group):
                wanted = ", ".join(sorted(group)) or "(empty group)"
                return False, f"no signature by any of the required keys: {wanted}"
        return True, f"{len(signed_by)} signature(s) verified"
    except (ValueError, TypeError, KeyError) as error:
        # Belt and braces: a verifier fed hostile input answers "invalid", never a traceback.
        return False, f"malformed envelope: {error}"
