"""The webhooks page: owners add endpoints (refused URLs say why), send a test event, see the
deliveries, redeliver a failed one and delete an endpoint; members, other organisations'
members and anonymous callers cannot."""

from __future__ import annotations

import re

import pytest

from consent import services
from consent.models import WebhookDelivery, WebhookEndpoint
from tests.consent.test_webhooks import Receiver
from tests.registry.org_world import client_as, org_world

pytestmark = pytest.mark.django_db

CALLERS = ["owner", "member", "outsider", "anonymous"]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Production hashing costs ~0.5 s per password; every test here creates three accounts.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def receiver(settings):
    settings.WEBHOOKS_ALLOW_INSECURE_LOCALHOST = True
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture
def world():
    return org_world()


@pytest.fixture
def endpoint(world):
    # Nothing is sent to it: these tests' transactions never commit, so no delivery leaves.
    endpoint, _secret = services.webhook_endpoint_create(
        organisation=world.organisation, url="https://hooks.example.com/registry"
    )
    return endpoint


@pytest.fixture
def failed_delivery(endpoint):
    delivery = services.webhook_endpoint_ping(endpoint=endpoint)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=WebhookDelivery.Status.FAILED, attempts=8, last_status_code=500, next_attempt_at=None
    )
    return delivery


def _state():
    return {
        "endpoints": sorted(
            WebhookEndpoint.objects.values_list("endpoint_id", "disabled_at", "url")
        ),
        "deliveries": sorted(WebhookDelivery.objects.values_list("delivery_id", "status")),
    }


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("get", "/orgs/{slug}/webhooks/", None),
        ("get", "/orgs/{slug}/webhooks/{endpoint}/delete/", None),
        ("post", "/orgs/{slug}/webhooks/", {"url": "https://hooks.example.com/x"}),
        ("post", "/orgs/{slug}/webhooks/{endpoint}/test/", {}),
        ("post", "/orgs/{slug}/webhooks/deliveries/{delivery}/redeliver/", {}),
        ("post", "/orgs/{slug}/webhooks/{endpoint}/delete/", {}),
    ],
)
def test_only_owners_use_the_webhooks_page(
    client, world, endpoint, failed_delivery, caller, method, path, data
):
    client_as(client, world, caller)
    url = path.format(
        slug=world.organisation.slug,
        endpoint=endpoint.endpoint_id,
        delivery=failed_delivery.delivery_id,
    )
    before = _state()
    response = getattr(client, method)(url, data) if data is not None else client.get(url)
    if caller == "owner":
        assert response.status_code in (200, 302)
        if method == "post":
            assert _state() != before
        return
    assert _state() == before
    if caller == "anonymous":
        assert response.status_code == 302 and response["Location"].startswith("/login/")
    else:
        assert response.status_code == {"member": 403, "outsider": 404}[caller]


def test_an_owner_adds_an_endpoint_tests_it_and_sees_the_delivery(
    client, world, receiver, django_capture_on_commit_callbacks
):
    client.force_login(world.owner)
    url = f"/orgs/{world.organisation.slug}/webhooks/"
    response = client.post(url, {"url": receiver.url, "description": "staging"})
    page = response.content.decode()
    secret = re.search(r'id="endpoint-secret" value="([^"]+)"', page).group(1)
    assert secret.startswith("whsec_") and "will not be shown again" in page
    assert secret not in client.get(url).content.decode()
    endpoint = WebhookEndpoint.objects.get(organisation=world.organisation)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{url}{endpoint.endpoint_id}/test/")
    assert response.status_code == 302
    (request,) = receiver.requests
    assert request["headers"]["X-Registry-Event"] == "ping"

    page = client.get(url).content.decode()
    row = re.search(r'<tr class="delivery-row".*?</tr>', page, re.S).group(0)
    assert "ping" in row and "delivered" in row and "HTTP 200" in row and "<td>1</td>" in row
    assert '"payload"' not in page and "{&quot;" not in page  # no raw JSON


def test_a_failed_delivery_is_shown_with_its_error_and_can_be_redelivered(
    client, world, receiver, endpoint, failed_delivery, django_capture_on_commit_callbacks
):
    client.force_login(world.owner)
    url = f"/orgs/{world.organisation.slug}/webhooks/"
    row = re.search(r'<tr class="delivery-row".*?</tr>', client.get(url).content.decode(), re.S)
    assert "failed" in row.group(0) and "HTTP 500" in row.group(0) and "Redeliver" in row.group(0)

    # The receiver is mended.
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(url=receiver.url)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{url}deliveries/{failed_delivery.delivery_id}/redeliver/")
    assert response.status_code == 302
    failed_delivery.refresh_from_db()
    assert failed_delivery.status == WebhookDelivery.Status.SUCCEEDED
    assert len(receiver.requests) == 1


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("http://hooks.example.com/x", "https"),
        ("https://127.0.0.1/x", "internal"),
        ("not a url", ""),
    ],
)
def test_a_refused_url_says_why(client, world, address, message, settings):
    settings.WEBHOOKS_ALLOW_INSECURE_LOCALHOST = False
    client.force_login(world.owner)
    response = client.post(f"/orgs/{world.organisation.slug}/webhooks/", {"url": address})
    assert response.status_code == 400
    errors = re.search(r'<ul class="errorlist.*?</ul>', response.content.decode(), re.S)
    assert errors and message.lower() in errors.group(0).lower()
    assert "/work/" not in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_deleting_asks_first_and_stops_the_endpoint(client, world, endpoint):
    client.force_login(world.owner)
    url = f"/orgs/{world.organisation.slug}/webhooks/{endpoint.endpoint_id}/delete/"
    assert "Stop sending events to" in client.get(url).content.decode()
    assert client.post(url).status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.disabled_at is not None
    page = client.get(f"/orgs/{world.organisation.slug}/webhooks/").content.decode()
    assert f'data-endpoint="{endpoint.endpoint_id}"' not in page


def test_another_organisations_endpoint_and_delivery_are_not_found(client, world, receiver):
    theirs, _ = services.webhook_endpoint_create(organisation=world.other, url=receiver.url)
    delivery = services.webhook_endpoint_ping(endpoint=theirs)
    client.force_login(world.owner)
    slug = world.organisation.slug
    assert client.post(f"/orgs/{slug}/webhooks/{theirs.endpoint_id}/test/").status_code == 404
    assert client.post(f"/orgs/{slug}/webhooks/{theirs.endpoint_id}/delete/").status_code == 404
    redeliver = f"/orgs/{slug}/webhooks/deliveries/{delivery.delivery_id}/redeliver/"
    assert client.post(redeliver).status_code == 404
    theirs.refresh_from_db()
    assert theirs.disabled_at is None
