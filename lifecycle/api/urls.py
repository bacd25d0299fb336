"""API of the person-wide workflows, included by the project under ``/api/v1/``."""

from django.urls import path

from lifecycle.api import liveness, views

urlpatterns = [
    path("me", views.MeApi.as_view(), name="api-me"),
    path("me/export", views.MeExportApi.as_view(), name="api-me-export"),
    path("me/photos", views.MePhotosApi.as_view(), name="api-me-photos"),
    path("me/liveness", liveness.MeLivenessApi.as_view(), name="api-me-liveness"),
    path("me/liveness/clip", liveness.MeLivenessClipApi.as_view(), name="api-me-liveness-clip"),
    path("attestations", views.AttestationsApi.as_view(), name="api-attestations"),
]
