"""Registry API, included by the project under ``/api/v1/``."""

from django.urls import path

from registry.api import views

urlpatterns = [
    path("auth/signup", views.SignupApi.as_view(), name="api-signup"),
    path("auth/verify-email", views.VerifyEmailApi.as_view(), name="api-verify-email"),
    path("me/confirm-templates", views.MeConfirmTemplatesApi.as_view(), name="api-me-confirm"),
    path("me/photos/<int:template_id>", views.MePhotoApi.as_view(), name="api-me-photo"),
    path("me/tokens", views.MeTokensApi.as_view(), name="api-me-tokens"),
    path("me/tokens/<int:key_id>", views.MeTokenApi.as_view(), name="api-me-token"),
    path("organisations", views.OrganisationsApi.as_view(), name="api-organisations"),
    path("organisations/<slug:slug>", views.OrganisationApi.as_view(), name="api-organisation"),
    path(
        "organisations/<slug:slug>/members",
        views.OrganisationMembersApi.as_view(),
        name="api-organisation-members",
    ),
    path(
        "organisations/<slug:slug>/keys",
        views.OrganisationKeysApi.as_view(),
        name="api-organisation-keys",
    ),
    path(
        "organisations/<slug:slug>/keys/<int:key_id>",
        views.OrganisationKeyApi.as_view(),
        name="api-organisation-key",
    ),
]
