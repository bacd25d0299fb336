"""AES-256-GCM sealing of small secrets (the registry's private signing keys) at rest.

A sealed value is ``version (1 byte) || nonce (12 bytes) || ciphertext || tag (16 bytes)``.
Callers pass associated data naming what the secret belongs to (the key id), so a ciphertext
copied onto another database row fails to open instead of silently signing as the wrong key.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT_VERSION = b"\x01"
NONCE_SIZE = 12
KEY_SIZE = 32


class SealError(ValueError):
    """The sealed value cannot be opened: wrong key, wrong associated data or tampering."""


def _cipher(kek: bytes) -> AESGCM:
    if not isinstance(kek, bytes) or len(kek) != KEY_SIZE:
        raise SealError(f"the key-encryption key must be {KEY_SIZE} bytes")
    return AESGCM(kek)


def seal(kek: bytes, plaintext: bytes, *, associated_data: bytes) -> bytes:
    # Random 96-bit nonces are safe here: a key-encryption key seals a handful of signing
    # keys in its lifetime, far below the 2**32 messages where collisions become a concern.
    nonce = os.urandom(NONCE_SIZE)
    return FORMAT_VERSION + nonce + _cipher(kek).encrypt(nonce, plaintext, associated_data)


def unseal(kek: bytes, sealed: bytes, *, associated_data: bytes) -> bytes:
    sealed = bytes(sealed)
    if sealed[:1] != FORMAT_VERSION or len(sealed) < 1 + NONCE_SIZE + 16:
        raise SealError("not a sealed value of a known format")
    nonce, ciphertext = sealed[1 : 1 + NONCE_SIZE], sealed[1 + NONCE_SIZE :]
    try:
        return _cipher(kek).decrypt(nonce, ciphertext, associated_data)
    except InvalidTag:
        raise SealError(
            "sealed value does not open with this key-encryption key and associated data"
        ) from None
