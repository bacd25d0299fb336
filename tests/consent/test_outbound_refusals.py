"""Webhooks and video callbacks never reach inside: every internal spelling is refused when the
URL is registered and again at every delivery, including a name that later resolves inside."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from consent import services
from consent.models import WebhookDelivery
from matching import services as matching_services
from registry.lib import outbound
from tests.consent.records_factories import bearer, make_org, make_person, org_key
from tests.matching.checks_fixtures import Platform

pytestmark = pytest.mark.django_db

INTERNAL_SPELLINGS = [
    "https://127.0.0.1/hook",
    "https://127.1/hook",
    "https://2130706433:9443/",
    "https://0x7f000001/hook",
    "https://localhost/hook",
    "https://[::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://10.1.2.3/hook",
    "https://192.168.0.10/hook",
    "https://169.254.169.254/latest/meta-data",
    "https://100.64.0.1/hook",
    "https://0.0.0.0/hook",
    "https://hooks.internal.example/hook",  # resolves to 127.0.0.1 (see the fixture)
]
CLIP = b"\x00\x00\x00\x18ftypmp42"  # never analysed: the callback URL is refused first


@pytest.fixture(autouse=True)
def internal_name(monkeypatch):
    """``hooks.internal.example`` resolves to 127.0.0.1, as a name in /etc/hosts would."""
    public = outbound.system_resolver

    def resolve(host: str, port: int) -> list[str]:
        if host == "hooks.internal.example":
            return ["127.0.0.1"]
        return public(host, port)

    monkeypatch.setattr(outbound, "system_resolver", resolve)


@pytest.mark.parametrize("url", INTERNAL_SPELLINGS)
def test_a_webhook_to_an_internal_address_is_refused_at_registration(url):
    client = APIClient()
    client.credentials(**bearer(org_key(make_org("studio"), "webhooks:manage")))
    response = client.post("/api/v1/webhooks/endpoints", {"url": url}, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] in ("destination_refused", "insecure_url")
    assert "internal address" in error["message"] or "resolve" in error["message"]


@pytest.mark.parametrize("url", INTERNAL_SPELLINGS)
def test_a_video_callback_to_an_internal_address_is_refused_at_submission(url):
    studio = Platform("Clip Share")
    with pytest.raises(outbound.DestinationRefused):
        matching_services.video_check_create(
            organisation=studio.organisation,
            api_key=studio.key,
            category="commercial",
            upload=SimpleUploadedFile("clip.mp4", CLIP),
            container="mp4",
            callback_url=url,
            callback_secret="s" * 32,
        )


def test_a_name_that_moves_inside_after_registration_is_refused_at_delivery(
    monkeypatch, django_capture_on_commit_callbacks
):
    studio = make_org("studio")
    endpoint, _secret = services.webhook_endpoint_create(
        organisation=studio, url="https://hooks.partner.example/in"
    )
    grant = services.grant_record(
        person=make_person(),
        organisation=studio,
        purpose="x",
        categories=["commercial"],
        media_types=["image"],
        territory="worldwide",
    )
    # The partner's DNS now answers 127.0.0.1 (rebinding): the delivery must not connect.
    connected = []
    monkeypatch.setattr(outbound, "system_resolver", lambda host, port: ["127.0.0.1"])
    monkeypatch.setattr(
        outbound.socket, "create_connection", lambda *a, **k: connected.append(a) or 1 / 0
    )
    with django_capture_on_commit_callbacks(execute=True):  # the event, and its first attempt
        services.record_revoke(record=grant)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert connected == []
    assert delivery.last_status_code is None
    assert delivery.attempts == 1 and delivery.last_error == "destination_refused"
