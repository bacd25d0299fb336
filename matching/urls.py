"""Pages of the matching app."""

from django.urls import path

from matching import views
from matching.views import platform, review

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("me/checks/", views.checks_that_matched_me, name="checks-that-matched-me"),
    # --- a platform's pages (members of the organisation) ---
    path("orgs/<slug:slug>/checks/", platform.checks_history, name="platform-checks"),
    path("orgs/<slug:slug>/checks/new", platform.check_new, name="platform-check-new"),
    path("orgs/<slug:slug>/checks/<uuid:check_id>/", platform.check_detail, name="platform-check"),
    path(
        "orgs/<slug:slug>/checks/<uuid:check_id>/receipt.json",
        platform.check_receipt_download,
        name="platform-check-receipt",
    ),
    path(
        "orgs/<slug:slug>/checks/<uuid:check_id>/check.json",
        platform.check_export,
        name="platform-check-export",
    ),
    path(
        "orgs/<slug:slug>/checks/<uuid:check_id>/faces/<int:face>/review",
        review.review_decide,
        name="platform-review-decide",
    ),
    path("orgs/<slug:slug>/review/", review.review_queue_page, name="platform-review"),
    path("orgs/<slug:slug>/usage/", review.usage_page, name="platform-usage"),
]
