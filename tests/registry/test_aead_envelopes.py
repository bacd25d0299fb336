"""Photos and sealed signing keys share one AES-GCM envelope; what was stored before still opens.

The two vectors were produced by the separate implementations that ``registry.lib.aead``
replaced (``encrypt_photo`` and ``seal`` as they were), so a change to the byte format fails here.
"""

from __future__ import annotations

import pytest

from consent.lib.sealing import SealError, seal, unseal
from registry.lib.photo_crypto import PhotoDecryptionError, decrypt_photo, encrypt_photo

PHOTO_KEY = bytes(range(32))
PHOTO_OWNER = "sub_0123"
PHOTO_PLAINTEXT = b"reference photo bytes"
PHOTO_CIPHERTEXT = bytes.fromhex(
    "5031a86cb71e952aeee1225be909cad8c8742135d92489fc7a1bdcd99fb19c90c34ec53a8b573be403da48029f"
    "6c7d1e6e04b1"
)

KEK = bytes(range(32, 64))
SEALED_FOR = b"key-id-7"
SEALED_PLAINTEXT = b"ed25519 private key"
SEALED = bytes.fromhex(
    "019ae52435f29551da903cadce06a73bd5949083afbf38e1a787637a4ad261c9340e72c58677b9b381eeec3f36"
    "afbcdb"
)


def test_a_photo_encrypted_by_the_old_code_still_decrypts():
    assert decrypt_photo(PHOTO_CIPHERTEXT, key=PHOTO_KEY, owner=PHOTO_OWNER) == PHOTO_PLAINTEXT


def test_a_signing_key_sealed_by_the_old_code_still_opens():
    assert unseal(KEK, SEALED, associated_data=SEALED_FOR) == SEALED_PLAINTEXT


def test_new_envelopes_keep_each_format_version_prefix_and_round_trip():
    photo = encrypt_photo(PHOTO_PLAINTEXT, key=PHOTO_KEY, owner=PHOTO_OWNER)
    sealed = seal(KEK, SEALED_PLAINTEXT, associated_data=SEALED_FOR)

    assert photo[:2] == b"P1" and len(photo) == len(PHOTO_CIPHERTEXT)
    assert sealed[:1] == b"\x01" and len(sealed) == len(SEALED)
    assert decrypt_photo(photo, key=PHOTO_KEY, owner=PHOTO_OWNER) == PHOTO_PLAINTEXT
    assert unseal(KEK, sealed, associated_data=SEALED_FOR) == SEALED_PLAINTEXT


def test_a_photo_does_not_decrypt_for_another_owner_or_as_a_sealed_key():
    with pytest.raises(PhotoDecryptionError, match="could not be decrypted"):
        decrypt_photo(PHOTO_CIPHERTEXT, key=PHOTO_KEY, owner="sub_other")
    with pytest.raises(PhotoDecryptionError, match="not an encrypted reference photo"):
        decrypt_photo(SEALED, key=KEK, owner=PHOTO_OWNER)
    with pytest.raises(SealError, match="not a sealed value"):
        unseal(PHOTO_KEY, PHOTO_CIPHERTEXT, associated_data=SEALED_FOR)


def test_a_sealed_key_does_not_open_with_other_associated_data_or_a_short_kek():
    with pytest.raises(SealError, match="does not open"):
        unseal(KEK, SEALED, associated_data=b"key-id-8")
    with pytest.raises(SealError, match="must be 32 bytes"):
        seal(KEK[:16], SEALED_PLAINTEXT, associated_data=SEALED_FOR)
