"""Pages of the person-wide workflows (sessions, CSRF on)."""

from django.urls import path

from lifecycle import views

urlpatterns = [
    path("me/photos/", views.photos_upload, name="photos-upload"),
    path("me/liveness/", views.liveness_page, name="liveness"),
    path("me/liveness/challenge/", views.liveness_challenge, name="liveness-challenge"),
    path("me/liveness/clip/", views.liveness_verify, name="liveness-verify"),
    path("me/export/", views.export, name="export"),
    path("me/delete/", views.delete_account, name="delete-account"),
    path("me/report-face/", views.face_report, name="face-report"),
]
