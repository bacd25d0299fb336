"""A person sees, on their consent pages, when a request comes from an unverified organisation."""

from __future__ import annotations

import pytest
from django.test import Client

from consent import services
from tests.consent.records_factories import make_org, make_person

pytestmark = pytest.mark.django_db

WARNING = "the registry has not verified this organisation"


def ask(person, studio):
    return services.consent_request_create(
        organisation=studio,
        requested_by=None,
        person=person,
        purpose="A digital double for the sequel",
        categories=["entertainment"],
        media_types=["video"],
        territory="worldwide",
    )


def pages(person, item) -> dict[str, str]:
    client = Client()
    client.force_login(person.user)
    return {
        url: client.get(url).content.decode()
        for url in (
            "/me/consent/",
            "/me/consent/requests/",
            f"/me/consent/requests/{item.request_id}/",
        )
    }


def test_a_request_from_an_unverified_organisation_carries_a_clear_warning():
    person = make_person()
    item = ask(person, make_org("studio", name="Warner Bros. Pictures", verified=False))

    shown = pages(person, item)

    detail = shown[f"/me/consent/requests/{item.request_id}/"]
    assert 'id="unverified-warning"' in detail and WARNING in detail
    assert "does not count as consent" in detail
    assert "unverified organisation" in shown["/me/consent/requests/"]
    assert "unverified organisation" in shown["/me/consent/"]


def test_a_request_from_a_verified_organisation_has_no_warning():
    person = make_person()
    item = ask(person, make_org("studio", name="Northwind Studio"))

    for page in pages(person, item).values():
        assert WARNING not in page and "unverified organisation" not in page
