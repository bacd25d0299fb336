"""Consent URLs outside ``/api/v1/``, included by the project at the site root."""

from django.urls import path

from consent.api import views

urlpatterns = [
    # RFC 8615 well-known location, so verifiers find the keys without reading our API docs.
    path(
        ".well-known/likeness-registry/keys.json",
        views.PublishedKeysApi.as_view(),
        name="published-keys",
    ),
]
