"""The studio's desk tracks its requests (to whom, status, revocations), withdraws a waiting one,
lists the grants it holds, and hands out every consent check's receipt as a file that
``manage.py verify_receipt`` accepts (issue 13)."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from consent import services
from consent.models import ConsentRequest
from registry.services import membership_add
from tests.consent.records_factories import make_org, make_person

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk():
    studio = make_org("studio", name="Tidewater Pictures")
    producer = make_person()
    membership_add(organisation=studio, user=producer.user)
    client = Client()
    client.force_login(producer.user)
    return studio, client, f"/studio/{studio.slug}/consent/"


def ask(client, url, **fields):
    data = {
        "action": "ask",
        "ask-purpose": "A cameo in the harbour scene",
        "ask-categories": ["entertainment"],
        "ask-media_types": ["video"],
        "ask-territory": "worldwide",
        **{f"ask-{key}": value for key, value in fields.items()},
    }
    return client.post(url, data, follow=True)


def test_requests_show_to_whom_they_went_and_a_revocation_after_approval(desk):
    _studio, client, url = desk
    person = make_person(handle="marin")
    ask(client, url, person="marin")
    ask(client, url, email="someone@example.org")
    page = client.get(url).content.decode()
    assert person.public_id in page
    assert "someone@example.org" in page and "(invited)" in page

    waiting = ConsentRequest.objects.get(person=person)
    grant = services.consent_request_approve(request=waiting, person=person)
    services.record_revoke(record=grant)
    row = client.get(url).content.decode().split(f'data-request="{waiting.request_id}"')[1]
    row = row.split("</tr>")[0]
    assert "Approved" in row and "revoked" in row and grant.record_id in row


def test_a_waiting_request_can_be_withdrawn_and_the_person_no_longer_sees_it(desk):
    _studio, client, url = desk
    person = make_person(handle="oskar")
    ask(client, url, person="oskar")
    waiting = ConsentRequest.objects.get(person=person)
    done = client.post(url, {"action": "withdraw", "request_id": waiting.request_id}, follow=True)
    assert "Request withdrawn" in done.content.decode()
    waiting.refresh_from_db()
    assert waiting.status == ConsentRequest.Status.WITHDRAWN
    # Withdrawing again, or another studio's request, says why instead of failing.
    again = client.post(url, {"action": "withdraw", "request_id": waiting.request_id}, follow=True)
    assert "already withdrawn" in again.content.decode()
    other = make_org("studio", name="Elsewhere Films")
    theirs = services.consent_request_create(
        organisation=other,
        requested_by=None,
        person=person,
        purpose="Theirs",
        categories=["entertainment"],
        media_types=["video"],
        territory="worldwide",
    )
    refused = client.post(url, {"action": "withdraw", "request_id": theirs.request_id}, follow=True)
    assert "No such consent request" in refused.content.decode()
    theirs.refresh_from_db()
    assert theirs.status == ConsentRequest.Status.PENDING


def test_the_grants_held_are_listed_with_their_terms_and_expiry(desk):
    studio, client, url = desk
    person = make_person()
    services.grant_record(
        person=person,
        organisation=studio,
        purpose="Stunt double shots",
        categories=["entertainment"],
        media_types=["video"],
        territory="FR",
        valid_until=None,
    )
    table = client.get(url).content.decode().split('id="studio-grants"')[1].split("</table>")[0]
    assert person.public_id in table and "Stunt double shots" in table
    assert "entertainment; video; FR" in table and "no end" in table and "active" in table


def test_every_consent_check_receipt_downloads_as_a_file_verify_receipt_accepts(
    desk, tmp_path: Path
):
    studio, client, url = desk
    person = make_person(handle="ines")
    services.grant_record(
        person=person,
        organisation=studio,
        purpose="Trailer",
        categories=["entertainment"],
        media_types=["video"],
        territory="worldwide",
    )
    checked = client.post(
        url,
        {
            "action": "check",
            "check-person": "ines",
            "check-category": "entertainment",
            "check-media_type": "video",
            "check-territory": "worldwide",
            "check-date": "",
        },
    ).content.decode()
    assert 'id="receipt-download"' in checked
    href = checked.split('id="receipt-download"')[0].rsplit('href="', 1)[1].split('"')[0]
    download = client.get(href)
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment;")
    receipt = tmp_path / "receipt.json"
    receipt.write_bytes(download.content)
    out = StringIO()
    call_command("verify_receipt", str(receipt), stdout=out)
    assert out.getvalue().startswith("valid:") and "consented" in out.getvalue()
    # Listed on the desk afterwards, and nobody else's to download.
    assert href in client.get(url).content.decode()
    outsider = Client()
    outsider.force_login(make_person().user)
    assert outsider.get(href).status_code == 404


def test_date_fields_are_date_pickers_with_a_format_hint(desk):
    _studio, client, url = desk
    page = client.get(url).content.decode()
    assert 'type="date"' in page and "YYYY-MM-DD" in page
    person = make_person(handle="yara")
    ask(client, url, person="yara", valid_until="2031-12-31")
    request = ConsentRequest.objects.get(person=person)
    assert request.valid_until.date().isoformat() == "2031-12-31"
