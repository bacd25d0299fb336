"""A person revokes their own co-signing key from the consent dashboard."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from consent import selectors, services
from consent.lib import signing
from consent.lib.canonical import canonical_json
from consent.models import PersonKey
from registry.lib.errors import ValidationFailed
from registry.models import User
from tests.consent.records_factories import make_person

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def a_registered_key(person):
    private_key = signing.generate_private_key()
    key = services.person_key_register(
        person=person, public_key=signing.public_key_to_bytes(private_key)
    )
    return private_key, key


def signed_optout(person, private_key, categories=("sexual",)):
    draft = services.record_draft(kind="optout", person=person, categories=list(categories))
    return services.optout_record(
        person=person,
        categories=list(categories),
        person_signature=signing.sign(private_key, canonical_json(draft)),
        record_id=draft["record_id"],
        issued_at=timezone.datetime.fromisoformat(draft["issued_at"]),
    )


def test_a_person_revokes_their_key_from_the_dashboard_and_it_signs_no_more():
    person = make_person()
    private_key, key = a_registered_key(person)
    earlier = signed_optout(person, private_key)
    client = signed_in(person.user)
    page = client.get("/me/consent/").content.decode()
    assert f'data-kid="{key.kid}"' in page and "Revoke this key" in page

    done = client.post(f"/me/consent/keys/{key.kid}/revoke/", follow=True)

    key.refresh_from_db()
    assert key.revoked_at is not None
    text = done.content.decode()
    assert "is revoked" in text and "Revoke this key" not in text
    with pytest.raises(ValidationFailed):
        signed_optout(person, private_key, categories=["political"])
    # What the key signed before its revocation still verifies against its published key.
    envelope = selectors.record_with_proof(record=earlier)["envelope"]
    keys = [*selectors.published_keys(), *selectors.cosigner_published_keys({key.kid})]
    assert signing.verify_envelope(envelope, keys)[0]


def test_revoking_a_key_twice_keeps_the_first_revocation_time():
    person = make_person()
    _, key = a_registered_key(person)
    first = services.person_key_revoke(key=key, actor=person.user).revoked_at
    again = services.person_key_revoke(key=key, actor=person.user).revoked_at
    assert first is not None and again == first


def test_someone_elses_key_is_not_found_and_stays_active():
    owner, intruder = make_person(), make_person()
    _, key = a_registered_key(owner)
    response = signed_in(intruder.user).post(f"/me/consent/keys/{key.kid}/revoke/")
    assert response.status_code == 404
    assert PersonKey.objects.get(pk=key.pk).revoked_at is None


def test_only_the_person_revokes_their_key_through_the_service():
    owner, other = make_person(), make_person()
    _, key = a_registered_key(owner)
    with pytest.raises(Exception, match="Only the person themselves"):
        services.person_key_revoke(key=key, actor=other.user)
    assert PersonKey.objects.get(pk=key.pk).revoked_at is None


def test_revoking_needs_a_signed_in_person_and_a_post():
    person = make_person()
    _, key = a_registered_key(person)
    url = f"/me/consent/keys/{key.kid}/revoke/"
    anonymous = Client().post(url)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")
    assert signed_in(person.user).get(url).status_code == 405
    assert PersonKey.objects.get(pk=key.pk).revoked_at is None


def test_an_account_without_a_person_is_told_so_instead_of_an_error():
    operator = User.objects.create_user("operator@example.org", "a long passphrase")
    client = signed_in(operator)
    for url in ("/me/consent/", "/me/consent/requests/", "/me/consent/history/"):
        response = client.get(url)
        assert response.status_code == 200
        assert b"no personal registry entry" in response.content
