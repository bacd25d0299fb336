"""Server-rendered pages of the registry app (sessions, CSRF on)."""

from django.contrib.auth import views as auth_views
from django.urls import path

from registry import views
from registry import views_organisations as orgs

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="registry/login.html"),
        name="login",
    ),
    path("logout/", views.SignOut.as_view(), name="logout"),
    path("password-reset/", views.PasswordReset.as_view(), name="password-reset"),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="registry/password_reset_done.html"),
        name="password-reset-done",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        views.PasswordResetConfirm.as_view(),
        name="password-reset-confirm",
    ),
    path(
        "password-reset/complete/",
        auth_views.PasswordResetCompleteView.as_view(
            template_name="registry/password_reset_complete.html"
        ),
        name="password-reset-complete",
    ),
    path("verify/<str:uid>/<str:token>/", views.verify_email, name="verify-email"),
    path("me/", views.me, name="me"),
    path("me/verify-email/", views.verification_resend, name="verification-resend"),
    path("me/photos/<int:template_id>/delete/", views.photo_delete, name="photo-delete"),
    path("me/settings/", views.settings_update, name="settings-update"),
    path("me/confirm/", views.templates_confirm, name="templates-confirm"),
    path("me/tokens/", views.tokens, name="tokens"),
    path("me/tokens/<int:key_id>/revoke/", views.token_revoke, name="token-revoke"),
    # --- organisations: overview, members, API keys (webhooks are consent's) ---
    path("orgs/", orgs.organisations, name="orgs"),
    path("switch-organisation/", orgs.organisation_switch, name="org-switch"),
    path("orgs/<slug:slug>/", orgs.overview, name="org-overview"),
    path("orgs/<slug:slug>/policy/", orgs.policy, name="org-policy"),
    path("orgs/<slug:slug>/members/", orgs.members, name="org-members"),
    path("orgs/<slug:slug>/members/invite/", orgs.member_invite, name="org-member-invite"),
    path(
        "orgs/<slug:slug>/members/<int:member_id>/role/", orgs.member_role, name="org-member-role"
    ),
    path(
        "orgs/<slug:slug>/members/<int:member_id>/remove/",
        orgs.member_remove,
        name="org-member-remove",
    ),
    path(
        "orgs/<slug:slug>/invitations/<int:invitation_id>/cancel/",
        orgs.invitation_cancel,
        name="org-invitation-cancel",
    ),
    path("orgs/<slug:slug>/keys/", orgs.keys, name="org-keys"),
    path("orgs/<slug:slug>/keys/<int:key_id>/rotate/", orgs.key_rotate, name="org-key-rotate"),
    path("orgs/<slug:slug>/keys/<int:key_id>/revoke/", orgs.key_revoke, name="org-key-revoke"),
    path("invitations/<str:token>/", orgs.invitation, name="org-invitation"),
]
