"""Consent URLs outside ``/api/v1/``, included by the project at the site root."""

from django.urls import path

from consent import views as pages
from consent import views_webhooks as webhooks
from consent.api.log import PublishedKeysApi

urlpatterns = [
    # RFC 8615 well-known location, so verifiers find the keys without reading our API docs.
    path(
        ".well-known/likeness-registry/keys.json",
        PublishedKeysApi.as_view(),
        name="published-keys",
    ),
    # --- a person's consent dashboard and a studio's consent desk (records engineer) ---
    path("", pages.home, name="home"),
    path("me/consent/", pages.dashboard, name="consent-dashboard"),
    path("me/consent/optouts/", pages.optout_create, name="consent-optout-create"),
    path("me/consent/keys/<str:kid>/revoke/", pages.key_revoke, name="consent-key-revoke"),
    path("me/consent/requests/", pages.requests_waiting, name="consent-requests"),
    path(
        "me/consent/requests/<str:request_id>/",
        pages.request_detail,
        name="consent-request",
    ),
    path(
        "me/consent/requests/<str:request_id>/approve/",
        pages.request_answer,
        {"answer": "approve"},
        name="consent-request-approve",
    ),
    path(
        "me/consent/requests/<str:request_id>/decline/",
        pages.request_answer,
        {"answer": "decline"},
        name="consent-request-decline",
    ),
    path("me/consent/history/", pages.history, name="consent-history"),
    path("me/consent/records/<str:record_id>/", pages.record_detail, name="consent-record"),
    path(
        "me/consent/records/<str:record_id>/proof.json",
        pages.record_proof_download,
        name="consent-record-proof",
    ),
    path(
        "me/consent/records/<str:record_id>/revoke/",
        pages.record_revoke,
        name="consent-record-revoke",
    ),
    path("studio/<slug:slug>/consent/", pages.studio_desk, name="studio-desk"),
    path(
        "studio/<slug:slug>/consent/checks/<str:check_id>/receipt.json",
        pages.studio_receipt_download,
        name="studio-receipt",
    ),
    # --- an organisation's webhooks page (owners) ---
    path("orgs/<slug:slug>/webhooks/", webhooks.webhooks, name="org-webhooks"),
    path(
        "orgs/<slug:slug>/webhooks/<str:endpoint_id>/test/",
        webhooks.webhook_test,
        name="org-webhook-test",
    ),
    path(
        "orgs/<slug:slug>/webhooks/<str:endpoint_id>/delete/",
        webhooks.webhook_delete,
        name="org-webhook-delete",
    ),
    path(
        "orgs/<slug:slug>/webhooks/deliveries/<str:delivery_id>/redeliver/",
        webhooks.webhook_redeliver,
        name="org-webhook-redeliver",
    ),
]
