"""Operator screens for records, requests, checks and webhooks: read-only, no personal data."""

from __future__ import annotations

import pytest
from django.test import Client

from consent import services
from consent.models import WebhookDelivery
from registry.models import User
from tests.consent.records_factories import make_org, make_person

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("ops@example.test", "x" * 16))
    return client


def test_record_screens_show_ids_not_terms_and_refuse_edits(operator):
    person = make_person()
    grant = services.grant_record(
        person=person,
        organisation=make_org("studio"),
        purpose="Secret project about a named person",
        categories=["commercial"],
        media_types=["image"],
        territory="worldwide",
    )
    services.consent_check(organisation=grant.organisation, person=person, category="commercial")
    listing = operator.get("/admin/consent/record/")
    assert listing.status_code == 200 and grant.record_id.encode() in listing.content
    page = operator.get(f"/admin/consent/record/{grant.pk}/change/")
    assert page.status_code == 200
    assert b"Secret project" not in page.content
    assert person.public_id.encode() not in page.content
    assert operator.post(f"/admin/consent/record/{grant.pk}/delete/").status_code == 403
    for model in ("consentrequest", "consentcheck", "webhookendpoint", "webhookdelivery"):
        assert operator.get(f"/admin/consent/{model}/").status_code == 200


def test_an_operator_can_redeliver_a_webhook(
    operator, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOKS_ALLOW_INSECURE_LOCALHOST = True
    studio = make_org("studio")
    endpoint, _ = services.webhook_endpoint_create(
        organisation=studio, url="http://127.0.0.1:9/nothing-listens-here"
    )
    grant = services.grant_record(
        person=make_person(),
        organisation=studio,
        purpose="x",
        categories=["commercial"],
        media_types=["image"],
        territory="worldwide",
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.record_revoke(record=grant)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.attempts == 1 and delivery.last_error  # connection refused
    with django_capture_on_commit_callbacks(execute=True):
        response = operator.post(
            "/admin/consent/webhookdelivery/",
            {"action": "redeliver", "_selected_action": [delivery.pk]},
        )
    assert response.status_code == 302
    delivery.refresh_from_db()
    assert delivery.attempts == 2 and delivery.status == "pending"
