"""Pages of the matching app."""

from django.urls import path

from matching import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("me/checks/", views.checks_that_matched_me, name="checks-that-matched-me"),
]
