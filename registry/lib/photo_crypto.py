"""AES-256-GCM encryption of reference photos a person chose to keep (framework-free).

Layout: ``b"P1" || 12-byte random nonce || ciphertext+tag`` (an ``aead`` envelope). The
associated data binds a ciphertext to its owner (the person's public id), so a row copied onto
another person does not decrypt.
"""

from __future__ import annotations

from registry.lib import aead

_VERSION = b"P1"


class PhotoDecryptionError(Exception):
    """The ciphertext is damaged, belongs to someone else or was made with another key."""


def encrypt_photo(data: bytes, *, key: bytes, owner: str) -> bytes:
    return aead.seal(key, data, version=_VERSION, associated_data=_aad(owner))


def decrypt_photo(blob: bytes, *, key: bytes, owner: str) -> bytes:
    try:
        return aead.open_envelope(key, blob, version=_VERSION, associated_data=_aad(owner))
    except aead.UnknownEnvelope:
        raise PhotoDecryptionError("not an encrypted reference photo") from None
    except aead.EnvelopeMismatch as exc:
        raise PhotoDecryptionError("the photo could not be decrypted") from exc


def _aad(owner: str) -> bytes:
    return b"likeness-registry/reference-photo/" + owner.encode()
