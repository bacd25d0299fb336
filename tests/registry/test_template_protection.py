"""The keyed rotation hides raw embeddings but keeps distances, so search still works."""

from __future__ import annotations

import numpy as np
import pytest

from registry.lib.template_protection import protect, reprotect, rotation_for, unprotect

KEY_A = bytes(range(32))
KEY_B = bytes(range(1, 33))


def test_rotation_is_orthogonal_and_deterministic_per_key():
    rotation = rotation_for(KEY_A)
    assert rotation.shape == (128, 128)
    assert np.allclose(rotation @ rotation.T, np.eye(128), atol=1e-10)
    assert np.array_equal(rotation, rotation_for(bytes(KEY_A)))
    assert not np.allclose(rotation, rotation_for(KEY_B))


def test_protect_preserves_distances_and_changes_the_vectors():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2, 128)).astype(np.float32)
    pa, pb = protect(a, KEY_A), protect(b, KEY_A)
    assert pa.dtype == np.float32
    assert abs(np.linalg.norm(a - b) - np.linalg.norm(pa - pb)) < 1e-5
    assert np.linalg.norm(pa - a) > 0.5
    assert np.allclose(unprotect(pa, KEY_A), a, atol=1e-5)


def test_reprotect_equals_protecting_with_the_new_key():
    vector = np.random.default_rng(2).normal(size=128).astype(np.float32)
    moved = reprotect(protect(vector, KEY_A), KEY_A, KEY_B)
    assert np.allclose(moved, protect(vector, KEY_B), atol=1e-5)


def test_short_keys_are_refused():
    with pytest.raises(ValueError):
        rotation_for(b"short")
