"""Transparency-log API, included by the project under ``/api/v1/``."""

from django.urls import path

from consent.api import views

urlpatterns = [
    path("log/tree-head", views.TreeHeadApi.as_view(), name="log-tree-head"),
    path("log/entries/<int:index>", views.LogEntryApi.as_view(), name="log-entry"),
    path("log/inclusion-proof", views.InclusionProofApi.as_view(), name="log-inclusion-proof"),
    path(
        "log/consistency-proof", views.ConsistencyProofApi.as_view(), name="log-consistency-proof"
    ),
    # --- records, consent requests, consent checks, webhooks (records engineer) ---
    path("me/consent/records", views.MyRecordsApi.as_view(), name="my-consent-records"),
    path("me/consent/optouts", views.MyOptOutsApi.as_view(), name="my-optouts"),
    path("me/consent/drafts", views.MyDraftsApi.as_view(), name="my-record-drafts"),
    path("me/consent/keys", views.MyKeysApi.as_view(), name="my-person-keys"),
    path("me/consent/requests", views.MyRequestsApi.as_view(), name="my-consent-requests"),
    path(
        "me/consent/requests/<str:request_id>/approve",
        views.MyRequestApproveApi.as_view(),
        name="my-consent-request-approve",
    ),
    path(
        "me/consent/requests/<str:request_id>/decline",
        views.MyRequestDeclineApi.as_view(),
        name="my-consent-request-decline",
    ),
    path("consent-records/<str:record_id>", views.RecordApi.as_view(), name="consent-record"),
    path(
        "consent-records/<str:record_id>/revoke",
        views.RecordRevokeApi.as_view(),
        name="consent-record-revoke",
    ),
    path("consent-requests", views.ConsentRequestsApi.as_view(), name="consent-requests"),
    path(
        "consent-requests/<str:request_id>/withdraw",
        views.ConsentRequestWithdrawApi.as_view(),
        name="consent-request-withdraw",
    ),
    path("consent-checks", views.ConsentCheckApi.as_view(), name="consent-checks"),
    path("consent-grants", views.OrganisationGrantsApi.as_view(), name="consent-grants"),
    path("webhooks/endpoints", views.WebhookEndpointsApi.as_view(), name="webhook-endpoints"),
    path(
        "webhooks/endpoints/<str:endpoint_id>",
        views.WebhookEndpointApi.as_view(),
        name="webhook-endpoint",
    ),
    path(
        "webhooks/endpoints/<str:endpoint_id>/deliveries",
        views.WebhookDeliveriesApi.as_view(),
        name="webhook-deliveries",
    ),
    path(
        "webhooks/deliveries/<str:delivery_id>/redeliver",
        views.WebhookRedeliverApi.as_view(),
        name="webhook-redeliver",
    ),
]
