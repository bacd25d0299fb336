"""Signed tree heads: what the registry signs about the log, and how anyone checks it offline.

The signed bytes are the canonical JSON of ``{"tree_size", "root_hash", "timestamp"}`` with the
root in base64 and the timestamp in milliseconds since the Unix epoch (as in RFC 6962), so a
client needs only a JCS implementation and Ed25519 to check a head against ``keys.json``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from consent.lib.canonical import CanonicalJSONError, canonical_json
from consent.lib.merkle import HASH_SIZE
from consent.lib.signing import b64decode, b64encode, key_id, verify

TREE_HEAD_FIELDS = frozenset({"tree_size", "root_hash", "timestamp"})


def tree_head_body(*, tree_size: int, root_hash: bytes, timestamp_ms: int) -> dict[str, Any]:
    return {"tree_size": tree_size, "root_hash": b64encode(root_hash), "timestamp": timestamp_ms}


def tree_head_json(
    *, tree_size: int, root_hash: bytes, timestamp_ms: int, kid: str, signature: bytes
) -> dict[str, Any]:
    """A signed head as published (``/api/v1/log/tree-head``, receipts, proofs): the signed body,
    the key id and the signature, everything ``verify_tree_head`` needs with ``keys.json``."""
    return {
        **tree_head_body(tree_size=tree_size, root_hash=root_hash, timestamp_ms=timestamp_ms),
        "kid": kid,
        "signature": b64encode(signature),
    }


def tree_head_signed_bytes(*, tree_size: int, root_hash: bytes, timestamp_ms: int) -> bytes:
    return canonical_json(
        tree_head_body(tree_size=tree_size, root_hash=root_hash, timestamp_ms=timestamp_ms)
    )


def looks_like_tree_head(payload: Mapping[str, Any]) -> bool:
    """True for a payload whose signature could be replayed as a tree-head signature.

    Records and tree heads are signed by the same registry key over canonical JSON, so the
    only way a record signature could pass for a head signature is a payload with exactly the
    head's fields. The log refuses such payloads; that keeps the two kinds of signature apart
    without changing the published head format.
    """
    return set(payload) == TREE_HEAD_FIELDS


def verify_tree_head(head: Any, keys: Iterable[Mapping[str, Any]]) -> tuple[bool, str]:
    """Check a head as served by ``/api/v1/log/tree-head`` against published keys.

    Returns ``(ok, reason)`` and never raises on malformed input.
    """
    if not isinstance(head, Mapping):
        return False, "tree head is not an object"
    try:
        tree_size, timestamp = head["tree_size"], head["timestamp"]
        kid = head["kid"]
        root_hash = b64decode(head["root_hash"])
        signature = b64decode(head["signature"])
    except (KeyError, ValueError) as error:
        return False, f"malformed tree head: {error}"
    for name, value in (("tree_size", tree_size), ("timestamp", timestamp)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            return False, f"{name} must be a non-negative integer"
    if len(root_hash) != HASH_SIZE:
        return False, "root_hash is not a SHA-256 hash"
    key = next((key for key in keys if isinstance(key, Mapping) and key.get("kid") == kid), None)
    if key is None:
        return False, f"tree head is signed by unknown key {kid}"
    try:
        public_key = b64decode(key["public_key"])
    except (KeyError, ValueError) as error:
        return False, f"key {kid} is malformed: {error}"
    if len(public_key) != 32 or key_id(public_key) != kid:
        return False, f"key {kid} does not match its public key"
    try:
        body = tree_head_signed_bytes(
            tree_size=tree_size, root_hash=root_hash, timestamp_ms=timestamp
        )
    except CanonicalJSONError as error:
        return False, error.message
    if not verify(public_key, body, signature):
        return False, "tree head signature does not verify"
    return True, "tree head signature verified"
