"""Reads of an organisation's webhook endpoints and their delivery log."""

from __future__ import annotations

from django.db.models import QuerySet

from consent.models import WebhookDelivery, WebhookEndpoint
from registry.models import Organisation


def organisation_endpoints(*, organisation: Organisation) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(organisation=organisation, disabled_at__isnull=True)


def endpoint_deliveries(*, endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    return endpoint.deliveries.order_by("-created_at", "-id")
