"""Framework-free code of the consent app (no Django imports in this package).

The transparency log's building blocks: canonical JSON (``canonical``), Ed25519 envelopes
(``signing``), RFC 6962 Merkle maths (``merkle``), signed tree heads (``treehead``) and offline
receipt verification (``receipts``, also ``python -m consent.lib.receipts``). Beside them, what
records are made of: the vocabulary of uses and its validators (``uses``), timestamps
(``dates``), public ids (``ids``) and the sealing of signing keys at rest (``sealing``).

Kept apart so an offline verifier (or a test) can use them without a database or settings.
"""
