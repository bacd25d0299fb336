"""An organisation's webhooks page (owners): endpoints, their recent deliveries, a test event,
redelivery and removal.

Thin, like the API (``consent.api.webhooks``): reads through selectors, writes through
services. Who may come here is ``registry.pages.organisation_page(owner=True)``, the role the
API's ``webhooks:manage`` scope follows.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from consent import selectors, services
from consent.models import WebhookDelivery, WebhookEndpoint
from registry.lib.errors import RegistryError
from registry.models import Membership
from registry.pages import organisation_page

RECENT_DELIVERIES = 10


class EndpointForm(forms.Form):
    url = forms.CharField(
        label="Endpoint URL",
        max_length=500,
        help_text="An https:// address on the public internet that accepts POST requests.",
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/registry-events"}),
    )
    description = forms.CharField(label="Description (optional)", max_length=200, required=False)


def _render(request, membership, *, form=None, created=None, status=200) -> HttpResponse:
    organisation = membership.organisation
    endpoints = [
        (endpoint, list(selectors.endpoint_deliveries(endpoint=endpoint)[:RECENT_DELIVERIES]))
        for endpoint in selectors.organisation_endpoints(organisation=organisation)
    ]
    return render(
        request,
        "consent/webhooks.html",
        {
            "organisation": organisation,
            "is_owner": True,
            "form": form or EndpointForm(),
            "created": created,
            "endpoints": endpoints,
        },
        status=status,
    )


def _endpoint_of(membership: Membership, endpoint_id: str) -> WebhookEndpoint:
    endpoint = (
        selectors.organisation_endpoints(organisation=membership.organisation)
        .filter(endpoint_id=endpoint_id)
        .first()
    )
    if endpoint is None:
        raise Http404("No such webhook endpoint.")
    return endpoint


@never_cache
@organisation_page(owner=True)
@require_http_methods(["GET", "POST"])
def webhooks(request: HttpRequest, membership: Membership) -> HttpResponse:
    if request.method == "GET":
        return _render(request, membership)
    form = EndpointForm(request.POST)
    if form.is_valid():
        try:
            endpoint, secret = services.webhook_endpoint_create(
                organisation=membership.organisation,
                created_by=request.user,
                **form.cleaned_data,
            )
        except RegistryError as error:
            form.add_error("url", error.message)
        else:
            return _render(request, membership, created={"endpoint": endpoint, "secret": secret})
    return _render(request, membership, form=form, status=400)


@organisation_page(owner=True)
@require_POST
def webhook_test(request: HttpRequest, membership: Membership, endpoint_id: str) -> HttpResponse:
    endpoint = _endpoint_of(membership, endpoint_id)
    services.webhook_endpoint_ping(endpoint=endpoint)
    messages.success(request, f"A test event is on its way to {endpoint.url}.")
    return redirect("org-webhooks", slug=membership.organisation.slug)


@organisation_page(owner=True)
@require_POST
def webhook_redeliver(
    request: HttpRequest, membership: Membership, delivery_id: str
) -> HttpResponse:
    delivery = WebhookDelivery.objects.filter(
        delivery_id=delivery_id,
        endpoint__organisation=membership.organisation,
        endpoint__disabled_at__isnull=True,
    ).first()
    if delivery is None:
        raise Http404("No such delivery.")
    services.webhook_redeliver(delivery=delivery)
    messages.success(request, f"The {delivery.event_type} event is being sent again.")
    return redirect("org-webhooks", slug=membership.organisation.slug)


@organisation_page(owner=True)
@require_http_methods(["GET", "POST"])
def webhook_delete(request: HttpRequest, membership: Membership, endpoint_id: str) -> HttpResponse:
    endpoint = _endpoint_of(membership, endpoint_id)
    back = reverse("org-webhooks", args=[membership.organisation.slug])
    if request.method == "GET":
        return render(
            request,
            "registry/orgs/confirm.html",
            {
                "organisation": membership.organisation,
                "title": "Delete a webhook endpoint",
                "question": f"Stop sending events to {endpoint.url}? Events not yet delivered "
                "to it are dropped.",
                "button": "Delete endpoint",
                "back": back,
            },
        )
    services.webhook_endpoint_disable(endpoint=endpoint)
    messages.success(request, f"Events are no longer sent to {endpoint.url}.")
    return redirect(back)
