"""Webhooks: HTTPS endpoints, HMAC-signed events, retries with backoff, delivery log, redelivery."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from consent import services
from consent.models import WebhookDelivery
from consent.tasks import webhook_deliver
from registry.lib.errors import ValidationFailed
from tests.consent.records_factories import bearer, make_org, make_person, org_key

pytestmark = pytest.mark.django_db


class Receiver:
    """An HTTP endpoint on 127.0.0.1 that records requests and answers with queued statuses."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(
                    {"headers": dict(self.headers), "body": body, "at": time.monotonic()}
                )
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else b"receiver is down")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings):
    settings.WEBHOOKS_ALLOW_INSECURE_LOCALHOST = True
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture
def studio_with_endpoint(receiver):
    studio = make_org("studio")
    endpoint, secret = services.webhook_endpoint_create(organisation=studio, url=receiver.url)
    return studio, endpoint, secret


def verify_signature(request: dict, secret: str) -> dict:
    header = request["headers"]["X-Registry-Signature"]
    parts = dict(part.split("=", 1) for part in header.split(","))
    expected = hmac.new(
        secret.encode(), parts["t"].encode() + b"." + request["body"], hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(parts["v1"], expected)
    return json.loads(request["body"])


def a_grant(person, studio, **overrides):
    terms = {
        "purpose": "Advert",
        "categories": ["commercial"],
        "media_types": ["video"],
        "territory": "worldwide",
        "project_ref": "AD-1",
    }
    terms.update(overrides)
    return services.grant_record(person=person, organisation=studio, **terms)


def test_a_revoked_grant_sends_a_signed_event_to_its_holder(
    django_capture_on_commit_callbacks, receiver, studio_with_endpoint
):
    studio, endpoint, secret = studio_with_endpoint
    other_studio = make_org("studio")
    services.webhook_endpoint_create(organisation=other_studio, url=receiver.url + "/other")
    person = make_person()
    grant = a_grant(person, studio)
    with django_capture_on_commit_callbacks(execute=True):
        revocation = services.record_revoke(record=grant)
    assert len(receiver.requests) == 1  # only the holder hears about it
    event = verify_signature(receiver.requests[0], secret)
    assert event["type"] == "grant.revoked"
    assert event["data"]["grant"] == grant.record_id
    assert event["data"]["revocation"] == revocation.record_id
    assert event["data"]["project_ref"] == "AD-1"
    assert receiver.requests[0]["headers"]["X-Registry-Event"] == "grant.revoked"
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.status == "succeeded"
    assert delivery.attempts == 1 and delivery.last_status_code == 200
    # Only the status is kept, never what the receiver answered.
    assert delivery.last_error == "" and not hasattr(delivery, "response_excerpt")


def test_a_tampered_body_does_not_match_the_signature(
    django_capture_on_commit_callbacks, receiver, studio_with_endpoint
):
    studio, _, secret = studio_with_endpoint
    grant = a_grant(make_person(), studio)
    with django_capture_on_commit_callbacks(execute=True):
        services.record_revoke(record=grant)
    request = dict(receiver.requests[0])
    request["body"] = request["body"].replace(b"grant.revoked", b"grant.renewed")
    with pytest.raises(AssertionError):
        verify_signature(request, secret)
    with pytest.raises(AssertionError):
        verify_signature(receiver.requests[0], "whsec_wrong")


def test_expired_grants_are_announced_once(
    django_capture_on_commit_callbacks, receiver, studio_with_endpoint
):
    studio, _, secret = studio_with_endpoint
    person = make_person()
    now = timezone.now()
    expiring = a_grant(person, studio, valid_until=now + timedelta(hours=1))
    a_grant(person, studio, valid_until=now + timedelta(days=30))
    revoked = a_grant(person, studio, valid_until=now + timedelta(minutes=5))
    with django_capture_on_commit_callbacks(execute=True):
        services.record_revoke(record=revoked)
    receiver.requests.clear()
    assert services.grants_expired_notify(now=now) == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert services.grants_expired_notify(now=now + timedelta(hours=2)) == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert services.grants_expired_notify(now=now + timedelta(hours=3)) == 0
    assert len(receiver.requests) == 1
    event = verify_signature(receiver.requests[0], secret)
    assert event["type"] == "grant.expired"
    assert event["data"]["grant"] == expiring.record_id


def test_an_optout_is_sent_to_organisations_that_checked_the_person(
    django_capture_on_commit_callbacks, receiver, studio_with_endpoint
):
    studio, _, secret = studio_with_endpoint
    platform = make_org("platform")
    _, platform_secret = services.webhook_endpoint_create(
        organisation=platform, url=receiver.url + "/platform"
    )
    unrelated = make_org("studio")
    services.webhook_endpoint_create(organisation=unrelated, url=receiver.url + "/unrelated")
    person = make_person()
    services.consent_check(organisation=studio, person=person, category="commercial")
    services.person_checked_by(
        person_id=person.pk, organisation_id=platform.pk, reference="opaque-ref-42"
    )
    with django_capture_on_commit_callbacks(execute=True):
        optout = services.optout_record(person=person, categories=["political"])
    assert len(receiver.requests) == 2
    events = {}
    for request in receiver.requests:
        try:
            events["studio"] = verify_signature(request, secret)
        except AssertionError:
            events["platform"] = verify_signature(request, platform_secret)
    assert events["studio"]["type"] == events["platform"]["type"] == "person.opted_out"
    assert events["studio"]["data"]["person_reference"] == person.public_id
    assert events["platform"]["data"]["person_reference"] == "opaque-ref-42"
    assert events["platform"]["data"]["optout"] == optout.record_id
    assert events["platform"]["data"]["categories"] == ["political"]


def test_failed_deliveries_back_off_then_succeed_and_give_up_eventually(
    django_capture_on_commit_callbacks, receiver, studio_with_endpoint, monkeypatch
):
    studio, endpoint, _ = studio_with_endpoint
    receiver.statuses = [500, 503]
    with django_capture_on_commit_callbacks(execute=True):
        services.record_revoke(record=a_grant(make_person(), studio))
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.status == "pending"
    assert delivery.attempts == 1 and delivery.last_status_code == 500
    assert delivery.last_error == ""  # it answered: a status, no error class, no answer text
    first_wait = (delivery.next_attempt_at - delivery.last_attempt_at).total_seconds()
    assert first_wait == services.webhook_backoff_seconds(1) == 30

    # Run by a worker, the task asks Celery to retry after the backoff.
    requested = []

    class RetryRequested(Exception):
        pass

    def fake_retry(*, countdown):
        requested.append(countdown)
        return RetryRequested()

    monkeypatch.setattr(webhook_deliver, "retry", fake_retry)
    with pytest.raises(RetryRequested):
        webhook_deliver(delivery.delivery_id)
    assert requested == [60]  # the second failure waits twice as long
    webhook_deliver(delivery.delivery_id)  # the receiver is back
    delivery.refresh_from_db()
    assert delivery.status == "succeeded" and delivery.attempts == 3
    assert len(receiver.requests) == 3

    # A receiver that never recovers: the delivery is given up after the maximum attempts.
    receiver.statuses = [500] * 20
    with django_capture_on_commit_callbacks(execute=True):
        services.record_revoke(record=a_grant(make_person(), studio))
    failing = WebhookDelivery.objects.filter(endpoint=endpoint).exclude(pk=delivery.pk).get()
    for _ in range(services.WEBHOOK_MAX_ATTEMPTS - 1):
        services.webhook_attempt(delivery_id=failing.delivery_id)
    failing.refresh_from_db()
    assert failing.status == "failed" and failing.attempts == services.WEBHOOK_MAX_ATTEMPTS
    assert failing.next_attempt_at is None


def test_the_api_registers_endpoints_shows_deliveries_and_redelivers(
    django_capture_on_commit_callbacks, receiver
):
    studio = make_org("studio")
    client = APIClient()
    client.credentials(**bearer(org_key(studio, "webhooks:manage")))
    created = client.post("/api/v1/webhooks/endpoints", {"url": receiver.url}, format="json")
    assert created.status_code == 201, created.content
    secret = created.json()["secret"]
    endpoint_id = created.json()["endpoint_id"]
    listed = client.get("/api/v1/webhooks/endpoints").json()
    assert [e["endpoint_id"] for e in listed] == [endpoint_id]
    assert "secret" not in listed[0]  # shown once

    receiver.statuses = [500]
    with django_capture_on_commit_callbacks(execute=True):
        services.record_revoke(record=a_grant(make_person(), studio))
    log = client.get(f"/api/v1/webhooks/endpoints/{endpoint_id}/deliveries").json()["results"]
    assert len(log) == 1 and log[0]["status"] == "pending" and log[0]["last_status_code"] == 500

    with django_capture_on_commit_callbacks(execute=True):
        again = client.post(f"/api/v1/webhooks/deliveries/{log[0]['delivery_id']}/redeliver")
    assert again.status_code == 202
    log = client.get(f"/api/v1/webhooks/endpoints/{endpoint_id}/deliveries").json()["results"]
    assert log[0]["status"] == "succeeded" and log[0]["attempts"] == 2
    first, second = receiver.requests
    assert verify_signature(second, secret)["id"] == verify_signature(first, secret)["id"]

    # Another organisation's key sees none of it.
    other = APIClient()
    other.credentials(**bearer(org_key(make_org("studio"), "webhooks:manage")))
    assert other.get(f"/api/v1/webhooks/endpoints/{endpoint_id}/deliveries").status_code == 404
    assert (
        other.post(f"/api/v1/webhooks/deliveries/{log[0]['delivery_id']}/redeliver").status_code
        == 404
    )
    assert APIClient().get("/api/v1/webhooks/endpoints").status_code == 401
    no_scope = APIClient()
    no_scope.credentials(**bearer(org_key(studio, "consent:read")))
    assert no_scope.get("/api/v1/webhooks/endpoints").status_code == 403

    assert client.delete(f"/api/v1/webhooks/endpoints/{endpoint_id}").status_code == 204
    assert client.get("/api/v1/webhooks/endpoints").json() == []


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/x",
        "ftp://hooks.example.com/x",
        "https://user:pass@hooks.example.com/x",
        "https://10.0.0.8/x",
        "https://127.0.0.1/x",
        "http://127.0.0.1:9999/x",
        "not a url",
    ],
)
def test_only_public_https_endpoints_are_accepted(url):
    with pytest.raises(ValidationFailed):
        services.webhook_endpoint_create(organisation=make_org("studio"), url=url)


def test_https_endpoints_are_accepted():
    endpoint, secret = services.webhook_endpoint_create(
        organisation=make_org("studio"), url="https://hooks.example.com/registry"
    )
    assert secret.startswith("whsec_") and secret.encode() not in bytes(endpoint.secret_sealed)
