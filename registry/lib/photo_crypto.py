"""AES-256-GCM encryption of reference photos a person chose to keep (framework-free).

Layout: ``b"P1" || 12-byte random nonce || ciphertext+tag``. The associated data binds a
ciphertext to its owner (the person's public id), so a row copied onto another person does not
decrypt.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = b"P1"
_NONCE_BYTES = 12


class PhotoDecryptionError(Exception):
    """The ciphertext is damaged, belongs to someone else or was made with another key."""


def encrypt_photo(data: bytes, *, key: bytes, owner: str) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    return _VERSION + nonce + AESGCM(key).encrypt(nonce, data, _aad(owner))


def decrypt_photo(blob: bytes, *, key: bytes, owner: str) -> bytes:
    blob = bytes(blob)
    if not blob.startswith(_VERSION) or len(blob) < len(_VERSION) + _NONCE_BYTES + 16:
        raise PhotoDecryptionError("not an encrypted reference photo")
    nonce = blob[len(_VERSION) : len(_VERSION) + _NONCE_BYTES]
    try:
        return AESGCM(key).decrypt(nonce, blob[len(_VERSION) + _NONCE_BYTES :], _aad(owner))
    except InvalidTag as exc:
        raise PhotoDecryptionError("the photo could not be decrypted") from exc


def _aad(owner: str) -> bytes:
    return b"likeness-registry/reference-photo/" + owner.encode()
