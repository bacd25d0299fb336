"""The operator is told when the registry outgrows what its face engine can serve."""

from __future__ import annotations

import pytest

from consent.services import optout_record
from matching.engine import get_engine
from registry.services import person_create


def _opted_out_people(count: int) -> None:
    for number in range(count):
        person = person_create(email=f"p{number}@example.org", display_name=f"Person {number}")
        optout_record(person=person, categories=None)


@pytest.mark.django_db
def test_within_capacity_the_report_says_how_much_is_used(client):
    _opted_out_people(2)
    report = client.get("/healthz").json()["checks"]["registry_capacity"]
    assert report["ok"] is True
    assert report["opted_out_people"] == 2
    assert report["capacity"] == get_engine().registry_capacity == 2000


@pytest.mark.django_db
def test_past_capacity_health_warns_but_stays_up_and_the_admin_says_so(
    client, admin_client, monkeypatch
):
    monkeypatch.setattr(get_engine(), "registry_capacity", 2)
    _opted_out_people(3)
    response = client.get("/healthz")
    report = response.json()["checks"]["registry_capacity"]
    assert report["ok"] is False
    assert "3 opted-out people exceed the 2" in report["warning"]
    # Checks still answer correctly for the people registered: the service is not down.
    assert response.status_code == 200 and response.json()["status"] == "ok"

    page = admin_client.get("/admin/matching/check/")
    assert page.status_code == 200
    assert "3 opted-out people exceed the 2" in page.content.decode()
