"""Webhooks: organisations' endpoints, the events they receive and each delivery attempt.

Events are stored as one ``WebhookDelivery`` per active endpoint and sent after the commit by the
``consent.webhook_deliver`` task; signing, the POST and the retry policy are
``consent.delivery``'s. Events: ``grant.revoked``, ``grant.expired`` (to the grant's holder),
``person.opted_out`` (to every organisation that checked the person, by its reference) and
``ping`` (a test event an owner sends to one endpoint).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from consent.delivery import (
    WEBHOOK_MAX_ATTEMPTS,
    delivery_url_check,
    retry_after_seconds,
    signed_post,
)
from consent.lib.canonical import canonical_json
from consent.lib.dates import iso_ms
from consent.lib.ids import new_id
from consent.lib.sealing import seal, unseal
from consent.models import (
    PersonCheckedBy,
    Record,
    RecordKind,
    WebhookDelivery,
    WebhookEndpoint,
)
from consent.services.log import _key_encryption_key
from consent.tasks import webhook_deliver
from registry.models import Organisation, User


def webhook_endpoint_create(
    *, organisation: Organisation, url: str, description: str = "", created_by: User | None = None
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it and its signing secret, which is shown only this once."""
    delivery_url_check(url)
    endpoint_id = new_id("whe")
    secret = "whsec_" + secrets.token_urlsafe(32)
    endpoint = WebhookEndpoint.objects.create(
        endpoint_id=endpoint_id,
        organisation=organisation,
        url=url,
        description=description[:200],
        created_by=created_by,
        secret_sealed=seal(
            _key_encryption_key(), secret.encode(), associated_data=endpoint_id.encode()
        ),
    )
    return endpoint, secret


def webhook_endpoint_disable(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    if endpoint.disabled_at is None:
        endpoint.disabled_at = timezone.now()
        endpoint.save(update_fields=["disabled_at"])
    return endpoint


def _endpoint_secret(endpoint: WebhookEndpoint) -> str:
    return unseal(
        _key_encryption_key(),
        bytes(endpoint.secret_sealed),
        associated_data=endpoint.endpoint_id.encode(),
    ).decode()


def _enqueue_deliveries(delivery_ids: list[str]) -> None:
    for delivery_id in delivery_ids:
        webhook_deliver.delay(delivery_id)


def webhook_event_emit(
    *, organisation_ids: Sequence[int], event_type: str, data: Mapping[str, Any]
) -> list[WebhookDelivery]:
    """One delivery per active endpoint of the organisations, sent after the commit."""
    event_id = new_id("evt")
    payload = {
        "id": event_id,
        "type": event_type,
        "created_at": iso_ms(timezone.now()),
        "data": dict(data),
    }
    endpoints = WebhookEndpoint.objects.filter(
        organisation_id__in=list(organisation_ids), disabled_at__isnull=True
    )
    deliveries = [
        WebhookDelivery(
            delivery_id=new_id("whd"),
            endpoint=endpoint,
            event_id=event_id,
            event_type=event_type,
            payload=payload,
            next_attempt_at=timezone.now(),
        )
        for endpoint in endpoints
    ]
    if deliveries:
        with transaction.atomic():
            WebhookDelivery.objects.bulk_create(deliveries)
            ids = [delivery.delivery_id for delivery in deliveries]
            transaction.on_commit(lambda: _enqueue_deliveries(ids), robust=True)
    return deliveries


def webhook_endpoint_ping(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """A ``ping`` event to this one endpoint, so its owner can see deliveries and signatures
    work before a real event needs them; logged and retried like any other delivery."""
    event_id = new_id("evt")
    payload = {
        "id": event_id,
        "type": "ping",
        "created_at": iso_ms(timezone.now()),
        "data": {"endpoint": endpoint.endpoint_id, "message": "A test event from the registry."},
    }
    with transaction.atomic():
        delivery = WebhookDelivery.objects.create(
            delivery_id=new_id("whd"),
            endpoint=endpoint,
            event_id=event_id,
            event_type="ping",
            payload=payload,
            next_attempt_at=timezone.now(),
        )
        transaction.on_commit(lambda: _enqueue_deliveries([delivery.delivery_id]), robust=True)
    return delivery


def webhook_event_for_grant(*, record_id: str, event_type: str) -> list[WebhookDelivery]:
    """``grant.revoked`` / ``grant.expired`` to the organisation holding the grant."""
    grant = (
        Record.objects.select_related("person", "revocation")
        .filter(record_id=record_id, kind=RecordKind.GRANT)
        .first()
    )
    if grant is None or grant.organisation_id is None:
        return []
    revocation = getattr(grant, "revocation", None)
    data = {
        "grant": grant.record_id,
        "person": grant.person.public_id if grant.person else None,
        "project_ref": grant.project_ref,
        "revocation": revocation.record_id if revocation else None,
        "revoked_at": iso_ms(grant.revoked_at),
        "valid_until": iso_ms(grant.valid_until),
    }
    return webhook_event_emit(
        organisation_ids=[grant.organisation_id], event_type=event_type, data=data
    )


def webhook_events_for_optout(*, record_id: str) -> list[WebhookDelivery]:
    """``person.opted_out`` to every organisation that checked the person, by its reference."""
    optout = Record.objects.filter(record_id=record_id, kind=RecordKind.OPTOUT).first()
    if optout is None or optout.person_id is None:
        return []
    deliveries: list[WebhookDelivery] = []
    for organisation_id, reference in PersonCheckedBy.objects.filter(
        person_id=optout.person_id
    ).values_list("organisation_id", "reference"):
        deliveries += webhook_event_emit(
            organisation_ids=[organisation_id],
            event_type="person.opted_out",
            data={
                "person_reference": reference,
                "optout": optout.record_id,
                "categories": optout.categories,
                "created_at": iso_ms(optout.created_at),
            },
        )
    return deliveries


def grants_expired_notify(*, now: datetime | None = None, batch: int = 500) -> int:
    """Send ``grant.expired`` once for every grant whose validity ended; returns how many.

    Rows are claimed with ``SKIP LOCKED`` and marked in the same transaction, so overlapping
    runs (two beat schedulers, a slow run) never announce one expiry twice.
    """
    now = now or timezone.now()
    sent = 0
    while True:
        with transaction.atomic():
            due = list(
                Record.objects.select_for_update(skip_locked=True)
                .filter(
                    kind=RecordKind.GRANT,
                    revoked_at__isnull=True,
                    expiry_notified_at__isnull=True,
                    valid_until__lte=now,
                )
                .order_by("valid_until", "id")[:batch]
            )
            if not due:
                return sent
            Record.objects.filter(pk__in=[grant.pk for grant in due]).update(expiry_notified_at=now)
            for grant in due:
                webhook_event_for_grant(record_id=grant.record_id, event_type="grant.expired")
            sent += len(due)


def webhook_attempt(*, delivery_id: str) -> int | None:
    """Make one delivery attempt; returns the seconds until a retry is due, or None when done.

    The row is locked (``SKIP LOCKED``) for the attempt, so two workers never send one
    delivery at the same time.
    """
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .select_related("endpoint")
            .filter(delivery_id=delivery_id)
            .first()
        )
        if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
            return None
        endpoint = delivery.endpoint
        now = timezone.now()
        if endpoint.disabled_at is not None:
            delivery.status = WebhookDelivery.Status.FAILED
            delivery.last_error = "endpoint disabled"
            delivery.next_attempt_at = None
            delivery.save(update_fields=["status", "last_error", "next_attempt_at"])
            return None
        response = signed_post(
            endpoint.url,
            body=canonical_json(delivery.payload),
            secret=_endpoint_secret(endpoint),
            headers={
                "User-Agent": "LikenessRegistry-Webhooks/1",
                "X-Registry-Event": delivery.event_type,
                "X-Registry-Delivery": delivery.delivery_id,
            },
        )
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.last_status_code = response.status
        delivery.last_error = response.error
        retry_in = retry_after_seconds(response=response, attempts=delivery.attempts)
        if response.ok:
            delivery.status = WebhookDelivery.Status.SUCCEEDED
            delivery.delivered_at = timezone.now()
            delivery.next_attempt_at = None
        elif retry_in is None:
            delivery.status = WebhookDelivery.Status.FAILED
            delivery.next_attempt_at = None
        else:
            delivery.next_attempt_at = now + timedelta(seconds=retry_in)
        delivery.save()
    return retry_in


def webhook_redeliver(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again now (after a fix on the receiver's side), whatever its status."""
    with transaction.atomic():
        locked = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
        locked.status = WebhookDelivery.Status.PENDING
        locked.next_attempt_at = timezone.now()
        # A manual redelivery is one more attempt, and a few more retries if it fails again.
        locked.attempts = min(locked.attempts, WEBHOOK_MAX_ATTEMPTS - 3)
        locked.save(update_fields=["status", "next_attempt_at", "attempts"])
        transaction.on_commit(lambda: _enqueue_deliveries([locked.delivery_id]), robust=True)
    return locked


def webhook_deliveries_due(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Enqueue pending deliveries whose retry time has come (a safety net for lost tasks)."""
    now = now or timezone.now()
    ids = list(
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now
        )
        .order_by("next_attempt_at")
        .values_list("delivery_id", flat=True)[:limit]
    )
    _enqueue_deliveries(ids)
    return len(ids)
