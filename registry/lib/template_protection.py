"""Keyed, distance-preserving protection of face templates (framework-free).

A face embedding is stored as ``R @ v`` where ``R`` is a secret orthogonal matrix derived
deterministically from a template key that lives outside the database (``TEMPLATE_KEYS``). An
orthogonal map preserves Euclidean distances exactly, so nearest-neighbour search (pgvector's
``<->``) works on protected templates once the query is rotated with the same key.

What it protects against:
- A copy of the database alone (a dump, a backup, a read-only SQL injection): the stored vectors
  are not the model's output, so a generic face-reconstruction (inversion) model for dlib/
  face_recognition embeddings, or a comparison against embeddings computed elsewhere, does not
  work on them without the key.
- Cross-database linking: two registries with different keys store unrelated-looking vectors for
  the same face.

What it does NOT protect against (be honest):
- Anyone holding the key and the database (e.g. the running application server): ``R`` is
  invertible, ``unprotect`` recovers the exact embedding.
- Distances are preserved on purpose, so an attacker with the database can still compare stored
  templates with each other (cluster them, find that two rows are the same person), and with
  enough known (embedding, protected) pairs -- 128 linearly independent ones -- can solve for
  ``R`` by least squares. It is a keyed obfuscation, not encryption; the key must stay secret
  and the rows must still be access-controlled.
- A query oracle: an attacker who can submit faces to the search API learns match results, as
  any legitimate user does.
"""

from __future__ import annotations

import functools

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_INFO = b"likeness-registry/template-rotation/v1"


@functools.lru_cache(maxsize=16)
def _rotation_cached(key: bytes, dimensions: int) -> np.ndarray:
    info = _INFO + b"/" + str(dimensions).encode()
    seed_bytes = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(key)
    rng = np.random.Generator(np.random.PCG64(int.from_bytes(seed_bytes, "big")))
    gaussian = rng.standard_normal((dimensions, dimensions))
    q, r = np.linalg.qr(gaussian)
    # QR's signs are arbitrary; fixing them by R's diagonal makes Q Haar-distributed and unique.
    q = q * np.sign(np.diag(r))
    q.setflags(write=False)
    return q


def rotation_for(key: bytes, dimensions: int = 128) -> np.ndarray:
    """The secret orthogonal ``dimensions x dimensions`` matrix (float64) derived from ``key``."""
    if not isinstance(key, bytes | bytearray) or len(key) < 16:
        raise ValueError("a template key must be at least 16 bytes")
    return _rotation_cached(bytes(key), int(dimensions))


def protect(vector: np.ndarray, key: bytes) -> np.ndarray:
    """The protected form of an embedding (or of each row of a 2-D array), float32."""
    array = np.asarray(vector, dtype=np.float64)
    rotation = rotation_for(key, array.shape[-1])
    return (array @ rotation.T).astype(np.float32)


def unprotect(vector: np.ndarray, key: bytes) -> np.ndarray:
    """The inverse of ``protect`` (the rotation's transpose), float32."""
    array = np.asarray(vector, dtype=np.float64)
    rotation = rotation_for(key, array.shape[-1])
    return (array @ rotation).astype(np.float32)


def reprotect(vector: np.ndarray, old_key: bytes, new_key: bytes) -> np.ndarray:
    """Move a protected template from one key to another without keeping the raw embedding."""
    array = np.asarray(vector, dtype=np.float64)
    dimensions = array.shape[-1]
    combined = rotation_for(new_key, dimensions) @ rotation_for(old_key, dimensions).T
    return (array @ combined.T).astype(np.float32)
