"""The consent API under ``/api/v1/``: the transparency log, people, organisations, webhooks."""

from django.urls import path

from consent.api import log, organisations, people, webhooks

urlpatterns = [
    path("log/tree-head", log.TreeHeadApi.as_view(), name="log-tree-head"),
    path("log/entries/<int:index>", log.LogEntryApi.as_view(), name="log-entry"),
    path("log/inclusion-proof", log.InclusionProofApi.as_view(), name="log-inclusion-proof"),
    path("log/consistency-proof", log.ConsistencyProofApi.as_view(), name="log-consistency-proof"),
    path("me/consent/records", people.MyRecordsApi.as_view(), name="my-consent-records"),
    path("me/consent/optouts", people.MyOptOutsApi.as_view(), name="my-optouts"),
    path("me/consent/drafts", people.MyDraftsApi.as_view(), name="my-record-drafts"),
    path("me/consent/keys", people.MyKeysApi.as_view(), name="my-person-keys"),
    path("me/consent/requests", people.MyRequestsApi.as_view(), name="my-consent-requests"),
    path(
        "me/consent/requests/<str:request_id>/approve",
        people.MyRequestApproveApi.as_view(),
        name="my-consent-request-approve",
    ),
    path(
        "me/consent/requests/<str:request_id>/decline",
        people.MyRequestDeclineApi.as_view(),
        name="my-consent-request-decline",
    ),
    path("consent-records/<str:record_id>", people.RecordApi.as_view(), name="consent-record"),
    path(
        "consent-records/<str:record_id>/revoke",
        people.RecordRevokeApi.as_view(),
        name="consent-record-revoke",
    ),
    path("consent-requests", organisations.ConsentRequestsApi.as_view(), name="consent-requests"),
    path(
        "consent-requests/<str:request_id>/withdraw",
        organisations.ConsentRequestWithdrawApi.as_view(),
        name="consent-request-withdraw",
    ),
    path("consent-checks", organisations.ConsentCheckApi.as_view(), name="consent-checks"),
    path("consent-grants", organisations.OrganisationGrantsApi.as_view(), name="consent-grants"),
    path("webhooks/endpoints", webhooks.WebhookEndpointsApi.as_view(), name="webhook-endpoints"),
    path(
        "webhooks/endpoints/<str:endpoint_id>",
        webhooks.WebhookEndpointApi.as_view(),
        name="webhook-endpoint",
    ),
    path(
        "webhooks/endpoints/<str:endpoint_id>/deliveries",
        webhooks.WebhookDeliveriesApi.as_view(),
        name="webhook-deliveries",
    ),
    path(
        "webhooks/deliveries/<str:delivery_id>/redeliver",
        webhooks.WebhookRedeliverApi.as_view(),
        name="webhook-redeliver",
    ),
]
