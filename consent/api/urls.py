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
]
