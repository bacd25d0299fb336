"""Pages of the matching app."""

from django.urls import path

from matching import views

urlpatterns = [
    path("me/checks/", views.checks_that_matched_me, name="checks-that-matched-me"),
]
