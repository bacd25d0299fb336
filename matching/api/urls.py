"""Checks API, included by the project under ``/api/v1/``."""

from django.urls import path

from matching.api import views

urlpatterns = [
    path("checks", views.ChecksApi.as_view(), name="checks"),
    path("checks/<str:check_id>", views.CheckApi.as_view(), name="check"),
    path("checks/<str:check_id>/cancel", views.CheckCancelApi.as_view(), name="check-cancel"),
    path("checks/<str:check_id>/reviews", views.CheckReviewApi.as_view(), name="check-reviews"),
]
