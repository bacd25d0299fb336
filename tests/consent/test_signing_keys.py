"""Signing keys: sealed at rest, one current key, and rotation keeps old records valid."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.test import override_settings

from consent import selectors, services
from consent.audit import log_audit
from consent.lib import signing
from consent.lib.canonical import parse_json
from consent.lib.sealing import SealError
from consent.models import LogEntry, SigningKey
from tests.consent.conftest import append_records

pytestmark = pytest.mark.django_db


def test_the_first_key_is_created_lazily_and_then_reused(db):
    assert not SigningKey.objects.exists()
    key = services.signing_key_current()
    assert services.signing_key_current().pk == key.pk
    assert key.kid == signing.key_id(bytes(key.public_key))
    assert key.status == "current"


def test_the_private_key_is_stored_only_sealed(db):
    key = services.signing_key_current()
    private = services._private_key(key)
    raw = signing.private_key_to_bytes(private)
    assert raw not in bytes(key.private_key_sealed)
    assert signing.key_id(private) == key.kid


def test_a_different_key_encryption_key_cannot_open_the_signing_key(db):
    key = services.signing_key_current()
    with override_settings(REGISTRY_KEK=b"\x07" * 32), pytest.raises(SealError):
        services._private_key(key)


def test_a_sealed_key_copied_onto_another_row_does_not_open(db):
    first = services.signing_key_current()
    second, _ = services.signing_key_rotate()
    second.private_key_sealed = first.private_key_sealed
    # The kid is bound in as associated data, so the swap is detected rather than used.
    with pytest.raises(SealError):
        services._private_key(second)


def test_the_database_refuses_a_second_current_key(db):
    services.signing_key_current()
    other = signing.generate_private_key()
    with pytest.raises(IntegrityError), transaction.atomic():
        SigningKey.objects.create(
            kid=signing.key_id(other),
            public_key=signing.public_key_to_bytes(other),
            private_key_sealed=b"x",
            status="current",
        )


def test_rotation_retires_the_old_key_and_old_records_still_verify(db):
    old_entries = append_records(3)
    old_key = services.signing_key_current()

    call_command("rotate_signing_key")

    new_key = services.signing_key_current()
    assert new_key.kid != old_key.kid
    old_key.refresh_from_db()
    assert old_key.status == "retired"
    assert old_key.retired_at == new_key.created_at
    new_entries = append_records(2, start=3)

    keys = selectors.published_keys()
    assert [(k["kid"], k["status"]) for k in keys] == [
        (old_key.kid, "retired"),
        (new_key.kid, "current"),
    ]
    for entry in [*old_entries, *new_entries]:
        envelope = parse_json(bytes(LogEntry.objects.get(pk=entry.pk).record))
        expected_kid = old_key.kid if entry.index < 3 else new_key.kid
        assert envelope["signatures"][0]["kid"] == expected_kid
        ok, reason = signing.verify_envelope(envelope, keys)
        assert ok, reason
    assert selectors.latest_tree_head().kid == new_key.kid
    assert log_audit().problems == []


def test_the_first_receipt_after_a_rotation_is_signed_with_the_new_key(db):
    before = services.receipt_sign(kind="media_check", body={"verdict": "clear"})
    new_key, retired = services.signing_key_rotate()
    after = services.receipt_sign(kind="media_check", body={"verdict": "clear"})
    assert before["signatures"][0]["kid"] == retired.kid
    assert after["signatures"][0]["kid"] == new_key.kid
    keys = selectors.published_keys()
    for receipt in (before, after):
        ok, reason = signing.verify_envelope(receipt, keys)
        assert ok, reason
