"""AES-GCM envelopes: the one place secrets and photos are encrypted at rest (framework-free).

An envelope is ``version || 12-byte random nonce || ciphertext || 16-byte tag``. The version
prefix names the format (each caller has its own, e.g. ``b"P1"`` for reference photos, ``b"\\x01"``
for sealed signing keys), and the associated data names what the plaintext belongs to, so an
envelope copied onto another row or owner fails to open instead of decrypting in the wrong place.

Random 96-bit nonces are safe for these uses: each key encrypts far fewer than the 2**32 messages
at which nonce collisions become a concern.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_SIZE = 12
TAG_SIZE = 16


class EnvelopeError(ValueError):
    """An envelope cannot be opened."""


class UnknownEnvelope(EnvelopeError):
    """Not an envelope of the expected version, or too short to be one."""


class EnvelopeMismatch(EnvelopeError):
    """The key or the associated data is not the one it was sealed with, or it was altered."""


def seal(key: bytes, plaintext: bytes, *, version: bytes, associated_data: bytes) -> bytes:
    nonce = os.urandom(NONCE_SIZE)
    return version + nonce + AESGCM(key).encrypt(nonce, plaintext, associated_data)


def open_envelope(key: bytes, envelope: bytes, *, version: bytes, associated_data: bytes) -> bytes:
    envelope = bytes(envelope)
    header = len(version) + NONCE_SIZE
    if not envelope.startswith(version) or len(envelope) < header + TAG_SIZE:
        raise UnknownEnvelope("not an envelope of this version")
    nonce = envelope[len(version) : header]
    try:
        return AESGCM(key).decrypt(nonce, envelope[header:], associated_data)
    except InvalidTag:
        raise EnvelopeMismatch(
            "the envelope does not open with this key and associated data"
        ) from None
