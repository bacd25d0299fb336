"""The person's consent dashboard and the studio's consent desk, as server-rendered pages."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from consent import selectors, services
from consent.lib.receipts import verify_receipt
from consent.lib.signing import verify_envelope
from consent.models import ConsentRequest, Record
from registry.services import membership_add
from tests.consent.records_factories import make_org, make_person

pytestmark = pytest.mark.django_db


def signed_in(person) -> Client:
    client = Client()
    client.force_login(person.user)
    return client


def a_grant(person, studio):
    return services.grant_record(
        person=person,
        organisation=studio,
        purpose="A cameo in the Studio film",
        categories=["entertainment"],
        media_types=["video"],
        territory="worldwide",
    )


def test_pages_need_a_signed_in_person():
    for url in ("/me/consent/", "/me/consent/requests/", "/me/consent/history/"):
        response = Client().get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_the_dashboard_lists_optouts_grants_and_waiting_requests():
    person = make_person(handle="mona")
    studio = make_org("studio", name="Northwind Studio")
    services.optout_record(person=person, categories=["political"])
    grant = a_grant(person, studio)
    services.consent_request_create(
        organisation=studio,
        requested_by=None,
        person=person,
        purpose="Second season",
        categories=["entertainment"],
        media_types=["video"],
        territory="FR",
    )
    page = signed_in(person).get("/me/consent/").content.decode()
    assert "My opt-outs" in page and "political" in page
    assert "Northwind Studio" in page and grant.record_id in page
    assert "Northwind Studio asks: Second season" in page


def test_opting_out_from_the_dashboard_records_a_signed_optout():
    person = make_person()
    client = signed_in(person)
    response = client.post(
        "/me/consent/optouts/", {"scope": "some", "categories": ["sexual", "training"]}
    )
    assert response.status_code == 302
    record = Record.objects.get(person=person, kind="optout")
    assert record.categories == ["sexual", "training"]
    assert "recorded and signed" in client.get("/me/consent/").content.decode()
    client.post("/me/consent/optouts/", {"scope": "all"})
    assert Record.objects.filter(person=person, categories=["all"]).exists()
    client.post("/me/consent/optouts/", {"scope": "some"})  # no category chosen
    assert Record.objects.filter(person=person).count() == 2


def test_revoking_is_one_click_plus_a_confirmation():
    person = make_person()
    grant = a_grant(person, make_org("studio"))
    client = signed_in(person)
    confirm = client.get(f"/me/consent/records/{grant.record_id}/revoke/")
    assert confirm.status_code == 200
    assert b"Yes, revoke it" in confirm.content
    grant.refresh_from_db()
    assert grant.revoked_at is None  # the first click only asks
    done = client.post(f"/me/consent/records/{grant.record_id}/revoke/", follow=True)
    grant.refresh_from_db()
    assert grant.revoked_at is not None
    assert b"took effect immediately" in done.content
    assert b"revoked on" in done.content


def test_every_record_page_shows_a_proof_that_verifies():
    person = make_person()
    record = services.optout_record(person=person, categories=None)
    page = signed_in(person).get(f"/me/consent/records/{record.record_id}/")
    text = page.content.decode()
    proof_text = re.search(r'<pre id="proof">(.*?)</pre>', text, re.S).group(1)
    proof = json.loads(proof_text.replace("&quot;", '"').replace("&#x27;", "'"))
    keys = selectors.published_keys()
    assert verify_envelope(proof["envelope"], keys)[0]
    receipt_like = {
        "format": "likeness-registry/logged-receipt/v1",
        "leaf_index": proof["leaf_index"],
        "envelope": proof["envelope"],
        "inclusion_proof": proof["inclusion_proof"],
        "tree_head": proof["tree_head"],
        "related": [],
    }
    verify_receipt(receipt_like, {"keys": keys})


def test_someone_elses_record_and_request_are_not_found():
    owner, intruder = make_person(), make_person()
    record = services.optout_record(person=owner, categories=None)
    item = services.consent_request_create(
        organisation=make_org("studio"),
        requested_by=None,
        person=owner,
        purpose="x",
        categories=["commercial"],
        media_types=["image"],
        territory="worldwide",
    )
    client = signed_in(intruder)
    assert client.get(f"/me/consent/records/{record.record_id}/").status_code == 404
    assert client.post(f"/me/consent/records/{record.record_id}/revoke/").status_code == 404
    assert client.get(f"/me/consent/requests/{item.request_id}/").status_code == 404
    assert client.post(f"/me/consent/requests/{item.request_id}/approve/").status_code == 404
    record.refresh_from_db()
    assert record.revoked_at is None


def test_answering_a_request_in_the_browser():
    person = make_person()
    studio = make_org("studio", name="Contoso Films")
    ask = {
        "organisation": studio,
        "requested_by": None,
        "person": person,
        "purpose": "Voice double",
        "categories": ["entertainment"],
        "media_types": ["audio"],
        "territory": "worldwide",
    }
    first = services.consent_request_create(**ask)
    second = services.consent_request_create(**ask)
    client = signed_in(person)
    listing = client.get("/me/consent/requests/").content.decode()
    assert first.request_id in listing and second.request_id in listing
    approved = client.post(f"/me/consent/requests/{first.request_id}/approve/", follow=True)
    assert b"You gave consent to Contoso Films" in approved.content
    client.post(f"/me/consent/requests/{second.request_id}/decline/")
    statuses = dict(ConsentRequest.objects.values_list("request_id", "status"))
    assert statuses == {first.request_id: "approved", second.request_id: "declined"}


def test_history_shows_every_decision_and_who_checked():
    person = make_person()
    studio = make_org("studio", name="Fabrikam")
    grant = a_grant(person, studio)
    services.consent_check(organisation=studio, person=person, category="entertainment")
    services.record_revoke(record=grant)
    page = signed_in(person).get("/me/consent/history/").content.decode()
    assert page.count('class="history-row"') == 2
    assert f"revokes {grant.record_id}" in page
    assert "Fabrikam" in page and "consented" in page


def test_the_studio_desk_is_for_members_only_and_asks_and_checks():
    person = make_person(handle="ravi")
    studio = make_org("studio", name="Globex")
    member = make_person()
    membership_add(organisation=studio, user=member.user)
    outsider = signed_in(make_person())
    assert outsider.get(f"/studio/{studio.slug}/consent/").status_code == 404

    desk = signed_in(member)
    asked = desk.post(
        f"/studio/{studio.slug}/consent/",
        {
            "action": "ask",
            "ask-person": "ravi",
            "ask-purpose": "Trailer",
            "ask-categories": ["commercial"],
            "ask-media_types": ["video"],
            "ask-territory": "worldwide",
        },
    )
    assert asked.status_code == 302
    item = ConsentRequest.objects.get(organisation=studio)
    assert item.person == person and item.requested_by == member.user
    checked = desk.post(
        f"/studio/{studio.slug}/consent/",
        {
            "action": "check",
            "check-person": "ravi",
            "check-category": "commercial",
            "check-media_type": "video",
            "check-territory": "worldwide",
        },
    )
    assert b'id="check-result">not consented' in checked.content
