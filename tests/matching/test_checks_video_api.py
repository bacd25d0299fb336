"""Video checks through the API: 202 with an id, GET for status/progress/result, cancel."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from matching.models import Check, CheckMatch
from tests.matching.checks_fixtures import Platform, enroll

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_rate_limits")]

CLIP = "video/short_hamilton_clip.mp4"


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def platform(db) -> Platform:
    return Platform("Clip Share")


def test_a_video_is_queued_with_202_and_its_file_kept_only_until_cancelled(
    platform, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = platform.check_file(CLIP, name="clip.mp4")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued"
    assert body["kind"] == "video"
    assert body["progress"] == 0
    assert body["result"] is None
    assert len(callbacks) == 1  # the analysis is enqueued once the row is committed
    check = Check.objects.get(pk=body["id"])
    stored = Path(settings.MEDIA_ROOT) / check.media_path
    assert stored.is_file() and stored.parent.name == "checks"
    assert len(check.media_sha256) == 64

    polled = platform.get(body["id"]).json()
    assert (polled["status"], polled["progress"]) == ("queued", 0)
    # Another organisation cannot see or cancel it.
    stranger = Platform("Other Tube", scopes=("checks:read", "checks:write"))
    assert stranger.get(body["id"]).status_code == 404
    assert stranger.cancel(body["id"]).status_code == 404

    with django_capture_on_commit_callbacks(execute=True):
        cancelled = platform.cancel(body["id"])
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert not stored.exists()
    assert platform.cancel(body["id"]).json()["status"] == "cancelled"  # idempotent


@pytest.mark.slow
def test_a_video_check_runs_and_reports_the_opted_out_person_with_a_time_span(
    platform, django_capture_on_commit_callbacks
):
    lin = enroll("lin", ["lin_manuel_miranda/lin1.png"])
    with django_capture_on_commit_callbacks(execute=True):
        response = platform.check_file(CLIP, name="clip.mp4")
    assert response.status_code == 202
    body = platform.get(response.json()["id"]).json()
    assert body["status"] == "done", body
    assert body["progress"] == 100
    result = body["result"]
    assert result["verdict"] == "blocked"
    matched = [f for f in result["faces"] if f["match"] == "match"]
    assert matched and all(f["reference"].startswith("ref_") for f in matched)
    assert matched[0]["start_s"] < 1.0 and matched[0]["end_s"] > 5.0
    assert any(f["match"] == "none" for f in result["faces"])  # the unregistered face
    assert result["receipt"]["payload"]["body"]["media_sha256"] == result["media_sha256"]
    assert lin.public_id not in response.content.decode() + str(result)
    assert CheckMatch.objects.filter(person=lin).count() == 1
    check = Check.objects.get(pk=body["id"])
    assert check.media_path == ""  # the upload is deleted after processing
    assert platform.cancel(body["id"]).status_code == 409
