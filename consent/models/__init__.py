"""Consent app models, one module per part, all importable from ``consent.models``.

- ``log``: the transparency log and signing keys: ``SigningKey``, ``LogState``, ``LogEntry``,
  ``MerkleNode``, ``SignedTreeHead``. Written only by ``consent.services`` (log part).
- ``records``: ``Record`` (the queryable mirror of a signed decision) and
  ``ConsentRequest``, which share their use terms through the abstract ``UseTerms``;
  ``PersonKey``, ``ConsentCheck``, ``PersonCheckedBy``.
- ``webhooks``: ``WebhookEndpoint`` and ``WebhookDelivery``.
"""

from consent.models.log import (
    ED25519_PUBLIC_KEY_SIZE,
    ED25519_SIGNATURE_SIZE,
    SHA256_SIZE,
    UNIX_EPOCH,
    LogEntry,
    LogState,
    MerkleNode,
    SignedTreeHead,
    SigningKey,
)
from consent.models.records import (
    ConsentCheck,
    ConsentRequest,
    PersonCheckedBy,
    PersonKey,
    Record,
    RecordKind,
    UseTerms,
)
from consent.models.webhooks import WebhookDelivery, WebhookEndpoint

__all__ = [
    "ED25519_PUBLIC_KEY_SIZE",
    "ED25519_SIGNATURE_SIZE",
    "SHA256_SIZE",
    "UNIX_EPOCH",
    "ConsentCheck",
    "ConsentRequest",
    "LogEntry",
    "LogState",
    "MerkleNode",
    "PersonCheckedBy",
    "PersonKey",
    "Record",
    "RecordKind",
    "SignedTreeHead",
    "SigningKey",
    "UseTerms",
    "WebhookDelivery",
    "WebhookEndpoint",
]
