"""Public identifiers of records, receipts, requests and webhook objects: ``<prefix>_<24 hex>``."""

from __future__ import annotations

import secrets


def new_id(prefix: str) -> str:
    """A random identifier; the prefix says what it names (``rec``, ``chk``, ``whd``...)."""
    return f"{prefix}_{secrets.token_hex(12)}"
