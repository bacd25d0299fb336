"""Registry API, included by the project under ``/api/v1/``."""

from django.urls import path

from registry.api import accounts, organisations

urlpatterns = [
    path("auth/signup", accounts.SignupApi.as_view(), name="api-signup"),
    path("auth/verify-email", accounts.VerifyEmailApi.as_view(), name="api-verify-email"),
    path("me/confirm-templates", accounts.MeConfirmTemplatesApi.as_view(), name="api-me-confirm"),
    path("me/photos/<int:template_id>", accounts.MePhotoApi.as_view(), name="api-me-photo"),
    path("me/tokens", accounts.MeTokensApi.as_view(), name="api-me-tokens"),
    path("me/tokens/<int:key_id>", accounts.MeTokenApi.as_view(), name="api-me-token"),
    path("organisations", organisations.OrganisationsApi.as_view(), name="api-organisations"),
    path(
        "organisations/<slug:slug>",
        organisations.OrganisationApi.as_view(),
        name="api-organisation",
    ),
    path(
        "organisations/<slug:slug>/members",
        organisations.OrganisationMembersApi.as_view(),
        name="api-organisation-members",
    ),
    path(
        "organisations/<slug:slug>/keys",
        organisations.OrganisationKeysApi.as_view(),
        name="api-organisation-keys",
    ),
    path(
        "organisations/<slug:slug>/keys/<int:key_id>",
        organisations.OrganisationKeyApi.as_view(),
        name="api-organisation-key",
    ),
]
