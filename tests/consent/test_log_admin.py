"""Operator screens for the log: readable, never editable, no private key material."""

from __future__ import annotations

import pytest
from django.test import Client

from consent import services
from consent.lib import signing
from registry.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(db) -> Client:
    user = User.objects.create_superuser(email="operator@example.test", password="x" * 12)
    client = Client()
    client.force_login(user)
    return client


def test_operators_can_read_entries_heads_and_keys(operator, log_of_20):
    for url in (
        "/admin/consent/logentry/",
        "/admin/consent/logentry/?q=7",
        "/admin/consent/signedtreehead/",
        "/admin/consent/signingkey/",
    ):
        assert operator.get(url).status_code == 200, url
    found = operator.get("/admin/consent/logentry/?q=7").context["cl"].result_list
    assert [entry.index for entry in found] == [7]
    assert list(operator.get("/admin/consent/logentry/?q=abc").context["cl"].result_list) == []


def test_the_key_screen_shows_no_private_material(operator, log_of_20):
    key = services.signing_key_current()
    private = signing.private_key_to_bytes(services._private_key(key))
    page = operator.get(f"/admin/consent/signingkey/{key.pk}/change/").content
    assert signing.b64encode(bytes(key.public_key)).encode() in page
    for secret in (private, bytes(key.private_key_sealed)):
        assert signing.b64encode(secret).encode() not in page
        assert secret.hex().encode() not in page


def test_nothing_in_the_log_can_be_added_changed_or_deleted_from_the_admin(operator, log_of_20):
    entry_pk = services.log_append(payload={"type": "test_decision"}).pk
    assert operator.get("/admin/consent/logentry/add/").status_code == 403
    response = operator.post(
        f"/admin/consent/logentry/{entry_pk}/change/", {"index": 99}, follow=False
    )
    assert response.status_code == 403
    assert operator.post(f"/admin/consent/logentry/{entry_pk}/delete/").status_code == 403
    assert operator.get("/admin/consent/signingkey/add/").status_code == 403
