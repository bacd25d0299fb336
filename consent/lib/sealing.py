"""AES-256-GCM sealing of small secrets (the registry's private signing keys) at rest.

A sealed value is ``version (1 byte) || nonce (12 bytes) || ciphertext || tag (16 bytes)``, an
envelope of ``registry.lib.aead``. Callers pass associated data naming what the secret belongs to
(the key id), so a ciphertext copied onto another database row fails to open instead of silently
signing as the wrong key.
"""

from __future__ import annotations

from registry.lib import aead

FORMAT_VERSION = b"\x01"
NONCE_SIZE = aead.NONCE_SIZE
KEY_SIZE = 32


class SealError(ValueError):
    """The sealed value cannot be opened: wrong key, wrong associated data or tampering."""


def _check_kek(kek: bytes) -> bytes:
    if not isinstance(kek, bytes) or len(kek) != KEY_SIZE:
        raise SealError(f"the key-encryption key must be {KEY_SIZE} bytes")
    return kek


def seal(kek: bytes, plaintext: bytes, *, associated_data: bytes) -> bytes:
    return aead.seal(
        _check_kek(kek), plaintext, version=FORMAT_VERSION, associated_data=associated_data
    )


def unseal(kek: bytes, sealed: bytes, *, associated_data: bytes) -> bytes:
    try:
        return aead.open_envelope(
            _check_kek(kek), sealed, version=FORMAT_VERSION, associated_data=associated_data
        )
    except aead.UnknownEnvelope:
        raise SealError("not a sealed value of a known format") from None
    except aead.EnvelopeMismatch:
        raise SealError(
            "sealed value does not open with this key-encryption key and associated data"
        ) from None
