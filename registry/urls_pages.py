"""Server-rendered pages of the registry app (sessions, CSRF on)."""

from django.contrib.auth import views as auth_views
from django.urls import path

from registry import views

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="registry/login.html"),
        name="login",
    ),
    path("logout/", views.SignOut.as_view(), name="logout"),
    path("verify/<str:uid>/<str:token>/", views.verify_email, name="verify-email"),
    path("me/", views.me, name="me"),
    path("me/verify-email/", views.verification_resend, name="verification-resend"),
    path("me/photos/<int:template_id>/delete/", views.photo_delete, name="photo-delete"),
    path("me/settings/", views.settings_update, name="settings-update"),
    path("me/confirm/", views.templates_confirm, name="templates-confirm"),
    path("me/tokens/", views.tokens, name="tokens"),
    path("me/tokens/<int:key_id>/revoke/", views.token_revoke, name="token-revoke"),
]
