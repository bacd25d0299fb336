"""Offline verification of registry receipts and records: no Django, no database, no network.

Two kinds of receipt, both checked with nothing but the receipt and ``keys.json``:

- A *logged* receipt (consent checks) ``{"format": "likeness-registry/logged-receipt/v1",
  "leaf_index", "envelope", "inclusion_proof", "tree_head", "related": [...]}``: the signed
  envelope, the signed tree head of the log just after it was appended, the envelope's RFC 9162
  inclusion proof against that head (transparency-dev field names), and the records that decided
  it (``related``), each with its own proof against the same head.
- A *signed* receipt (high-volume platform checks): a bare envelope ``{"payload", "signatures"}``
  signed by a registry key; it is not in the log, so only its signature is checked.

Related records may also carry a person's own signature; keys of people are not published in
``keys.json``, so for those only the registry's signature is checked here (the leaf hash still
covers every signature byte, so none can be altered without failing the inclusion proof).

Usage: ``python -m consent.lib.receipts receipt.json keys.json`` exits 0 when valid.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from consent.lib import merkle
from consent.lib.canonical import CanonicalJSONError, canonical_json, parse_json
from consent.lib.signing import b64decode, verify_envelope
from consent.lib.treehead import verify_tree_head

LOGGED_RECEIPT_FORMAT = "likeness-registry/logged-receipt/v1"
SIGNED_RECEIPT_FORMAT = "likeness-registry/signed-receipt/v1"
CHECK_RECEIPT_FORMAT = "likeness-registry/consent-check-receipt/v1"


class ReceiptInvalid(ValueError):
    """The receipt does not verify; the message says why in one line."""


def keys_document_list(keys: Any) -> list[Mapping[str, Any]]:
    """The key list of a ``keys.json`` document (``{"keys": [...]}``) or a bare list."""
    if isinstance(keys, Mapping):
        keys = keys.get("keys")
    if not isinstance(keys, list) or not keys:
        raise ReceiptInvalid("keys.json holds no keys")
    return keys


def _registry_only(envelope: Mapping[str, Any], registry_kids: set[str]) -> dict[str, Any]:
    signatures = envelope.get("signatures")
    if not isinstance(signatures, list):
        raise ReceiptInvalid("envelope carries no signature list")
    kept = [s for s in signatures if isinstance(s, Mapping) and s.get("kid") in registry_kids]
    return {"payload": envelope.get("payload"), "signatures": kept}


def _check_envelope(
    envelope: Any, keys: list[Mapping[str, Any]], *, allow_cosigners: bool, name: str
) -> None:
    registry_kids = {key.get("kid") for key in keys if isinstance(key, Mapping)}
    if not isinstance(envelope, Mapping):
        raise ReceiptInvalid(f"{name}: envelope is not an object")
    checked = _registry_only(envelope, registry_kids) if allow_cosigners else envelope
    ok, reason = verify_envelope(checked, keys, require_signers_from=[registry_kids])
    if not ok:
        raise ReceiptInvalid(f"{name}: {reason}")


def _check_inclusion(
    item: Mapping[str, Any], head: Mapping[str, Any], root: bytes, *, name: str
) -> None:
    try:
        proof = merkle.InclusionProof.from_json(item.get("inclusion_proof"))
    except merkle.ProofError as error:
        raise ReceiptInvalid(f"{name}: {error}") from None
    try:
        record_bytes = canonical_json(item["envelope"])
    except (KeyError, CanonicalJSONError) as error:
        raise ReceiptInvalid(f"{name}: envelope cannot be canonicalised: {error}") from None
    if proof.leaf_hash != merkle.leaf_hash(record_bytes):
        raise ReceiptInvalid(f"{name}: the proof is for a different record")
    if proof.leaf_index != item.get("leaf_index"):
        raise ReceiptInvalid(f"{name}: the proof is for a different log position")
    if proof.tree_size != head["tree_size"] or proof.root != root:
        raise ReceiptInvalid(f"{name}: the proof is not against the receipt's signed tree head")
    try:
        proof.verify()
    except merkle.ProofError as error:
        raise ReceiptInvalid(f"{name}: inclusion proof does not verify: {error}") from None


def verify_receipt(receipt: Any, keys: Any) -> dict[str, Any]:
    """Check a receipt against published keys; return its payload, raise ``ReceiptInvalid``.

    For a logged receipt: the registry's signature on the receipt, the tree head's signature,
    the receipt's inclusion in that head, and for each related record its registry signature,
    its inclusion in the same head, and that the receipt names it (``decided_by``).
    """
    key_list = keys_document_list(keys)
    if not isinstance(receipt, Mapping):
        raise ReceiptInvalid("receipt is not a JSON object")
    if "format" not in receipt and set(receipt) == {"payload", "signatures"}:
        _check_envelope(receipt, key_list, allow_cosigners=False, name="receipt")
        payload = receipt["payload"]
        if payload.get("format") != SIGNED_RECEIPT_FORMAT:
            raise ReceiptInvalid("receipt: not a registry receipt")
        return dict(payload)
    if receipt.get("format") != LOGGED_RECEIPT_FORMAT:
        raise ReceiptInvalid(f"unknown receipt format {receipt.get('format')!r}")

    _check_envelope(receipt.get("envelope"), key_list, allow_cosigners=False, name="receipt")
    payload = receipt["envelope"]["payload"]
    head = receipt.get("tree_head")
    ok, reason = verify_tree_head(head, key_list)
    if not ok:
        raise ReceiptInvalid(f"tree head: {reason}")
    root = b64decode(head["root_hash"])
    _check_inclusion(receipt, head, root, name="receipt")

    related = receipt.get("related") or []
    if not isinstance(related, list):
        raise ReceiptInvalid("related must be a list")
    related_ids = set()
    for position, item in enumerate(related):
        name = f"related record {position}"
        if not isinstance(item, Mapping):
            raise ReceiptInvalid(f"{name}: not an object")
        _check_envelope(item.get("envelope"), key_list, allow_cosigners=True, name=name)
        _check_inclusion(item, head, root, name=name)
        related_ids.add(item["envelope"]["payload"].get("record_id"))
    decided_by = payload.get("decided_by")
    if decided_by is not None and decided_by not in related_ids:
        raise ReceiptInvalid(f"the deciding record {decided_by} is not included with its proof")
    return dict(payload)


def _load(path: str) -> Any:
    return parse_json(Path(path).read_bytes())


def main(argv: Iterable[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python -m consent.lib.receipts RECEIPT.json KEYS.json", file=sys.stderr)
        return 2
    try:
        payload = verify_receipt(_load(args[0]), _load(args[1]))
    except (ReceiptInvalid, CanonicalJSONError, OSError) as error:
        print(f"INVALID: {error}")
        return 1
    result = payload.get("result", payload.get("kind", ""))
    print(f"VALID: {payload.get('receipt_id')} {result}".rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
