"""A platform's pages: checks history, check detail with its receipt, the web check form, the
review queue and usage. Members only: another organisation's member gets a 404, an anonymous
visitor the sign-in page."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from matching.models import Check, ReviewDecision
from registry.models import Membership, MembershipRole, User
from tests.matching.checks_fixtures import Platform, photo_bytes
from tests.matching.platform_fixtures import CLEAR_FACE, NEEDS_REVIEW_FACE, stored_check

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_rate_limits")]


def member_of(platform: Platform, email: str, role=MembershipRole.MEMBER) -> Client:
    user = User.objects.create_user(email=email, password="x" * 12)
    Membership.objects.create(user=user, organisation=platform.organisation, role=role)
    client = Client()
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def platform() -> Platform:
    return Platform("Clip Share")


@pytest.fixture
def member(platform) -> Client:
    return member_of(platform, "mira@clipshare.example")


@pytest.fixture
def outsider() -> Client:
    return member_of(Platform("Other Tube"), "otto@othertube.example")


def base(platform: Platform) -> str:
    return f"/orgs/{platform.organisation.slug}"


def test_the_history_lists_every_check_with_links_and_filters(platform, member):
    clear = stored_check(platform.organisation, api_key=platform.key)
    review = stored_check(
        platform.organisation,
        verdict="needs_review",
        faces=[NEEDS_REVIEW_FACE],
        created_at=timezone.now() - timedelta(days=2),
    )
    html = member.get(f"{base(platform)}/checks/").content.decode()
    assert html.count('class="check-row"') == 2
    assert f"/checks/{clear.pk}/receipt.json" in html and f"/checks/{review.pk}/" in html
    assert "YYYY-MM-DD" in html and 'type="date"' in html
    filtered = member.get(f"{base(platform)}/checks/?verdict=needs_review").content.decode()
    assert filtered.count('class="check-row"') == 1 and str(review.pk) in filtered


def test_a_bad_filter_says_what_was_expected(platform, member):
    response = member.get(f"{base(platform)}/checks/?since=31.12.2026")
    assert response.status_code == 400
    assert "since: expected a date as YYYY-MM-DD" in response.content.decode()


def test_pages_are_for_members_only(platform, member, outsider):
    check = stored_check(platform.organisation)
    for path in ("checks/", f"checks/{check.pk}/", f"checks/{check.pk}/receipt.json",
                 f"checks/{check.pk}/check.json",
                 "checks/new", "review/", "usage/"):  # fmt: skip
        url = f"{base(platform)}/{path}"
        assert member.get(url).status_code == 200, url
        assert outsider.get(url).status_code == 404, url
        anonymous = Client().get(url)
        assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")


def test_the_receipt_downloads_as_a_file_verify_receipt_accepts(platform, member, tmp_path):
    check = stored_check(platform.organisation, verdict="blocked")
    response = member.get(f"{base(platform)}/checks/{check.pk}/receipt.json")
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == (
        f'attachment; filename="receipt-check-{check.pk}.json"'
    )
    path = tmp_path / "receipt.json"
    path.write_bytes(response.content)
    out = io.StringIO()
    call_command("verify_receipt", str(path), stdout=out)
    assert out.getvalue().startswith("valid:") and "blocked" in out.getvalue()


def test_the_web_form_checks_an_image_as_the_organisation_by_the_member(platform, member):
    response = member.post(
        f"{base(platform)}/checks/new",
        {"category": "commercial", "file": SimpleUploadedFile("p.jpg", photo_bytes(
            "people/rose_leslie/rose1.jpg"))},
    )  # fmt: skip
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["result"]["verdict"] == "clear" and len(body["result"]["faces"]) == 1
    assert len(body["result"]["faces"][0]["box"]) == 4
    check = Check.objects.get(pk=body["id"])
    assert check.source == "web" and check.submitted_by == member.user and check.api_key is None
    assert check.organisation == platform.organisation


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"category": "commercial"}, "Choose an image or a video"),
        ({"category": "nope", "file": b"x"}, "Choose a use category"),
        ({"category": "commercial", "file": b"%PDF-1.4 not media"}, "Send a JPEG, PNG or WebP"),
    ],
)
def test_the_web_form_refuses_bad_input_with_a_message(platform, member, data, message):
    if "file" in data:
        data = {**data, "file": SimpleUploadedFile("f.bin", data["file"])}
    response = member.post(f"{base(platform)}/checks/new", data)
    assert 400 <= response.status_code < 500
    assert message in response.json()["error"]["message"]


def test_a_member_decides_a_face_in_the_review_queue(platform, member):
    check = stored_check(
        platform.organisation, verdict="needs_review", faces=[CLEAR_FACE, NEEDS_REVIEW_FACE]
    )
    queue = member.get(f"{base(platform)}/review/").content.decode()
    assert 'id="review-waiting">1<' in queue
    assert "0.50 to 0.55" in queue  # the distance band, not the distance
    assert NEEDS_REVIEW_FACE["reference"] not in queue
    response = member.post(
        f"{base(platform)}/checks/{check.pk}/faces/1/review", {"decision": "treat_as_blocked"}
    )
    assert response.status_code == 302
    decision = ReviewDecision.objects.get(media_check=check)
    assert (decision.face, decision.decision, decision.decided_by) == (
        1,
        "treat_as_blocked",
        member.user,
    )
    assert 'id="review-waiting">0<' in member.get(f"{base(platform)}/review/").content.decode()
    detail = member.get(f"{base(platform)}/checks/{check.pk}/").content.decode()
    assert "Treat as blocked" in detail and "mira@clipshare.example" in detail
    (review,) = platform.get(str(check.pk)).json()["reviews"]
    assert review["face"] == 1 and review["decision"] == "treat_as_blocked"
    assert review["decided_by"] == "mira@clipshare.example"
    export = member.get(f"{base(platform)}/checks/{check.pk}/check.json")
    assert export["Content-Disposition"] == f'attachment; filename="check-{check.pk}.json"'
    assert export.json()["reviews"] == [review]
    # Decided once: a second decision is refused with a message, the first one stands.
    member.post(
        f"{base(platform)}/checks/{check.pk}/faces/1/review", {"decision": "not_this_person"}
    )
    assert ReviewDecision.objects.get(media_check=check).decision == "treat_as_blocked"


def test_only_faces_that_need_review_can_be_decided(platform, member):
    check = stored_check(platform.organisation, faces=[CLEAR_FACE])
    response = member.post(
        f"{base(platform)}/checks/{check.pk}/faces/0/review", {"decision": "not_this_person"},
        follow=True,
    )  # fmt: skip
    assert "This face does not need review." in response.content.decode()
    assert not ReviewDecision.objects.exists()


def test_nobody_outside_the_organisation_can_decide(platform, outsider):
    check = stored_check(platform.organisation, verdict="needs_review", faces=[NEEDS_REVIEW_FACE])
    url = f"{base(platform)}/checks/{check.pk}/faces/0/review"
    assert outsider.post(url, {"decision": "not_this_person"}).status_code == 404
    anonymous = Client().post(url, {"decision": "not_this_person"})
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")
    # Through the API: a key cannot decide (no one to record), another org's member gets 404.
    api = f"/api/v1/checks/{check.pk}/reviews"
    body = {"face": 0, "decision": "not_this_person"}
    assert platform.client.post(api, body, **platform.auth).status_code == 403
    response = outsider.post(
        api,
        body,
        content_type="application/json",
        HTTP_X_ORGANISATION=platform.organisation.slug,
    )
    assert response.status_code in (403, 404)
    assert not ReviewDecision.objects.exists()


def test_a_member_decides_through_the_api(platform, member):
    check = stored_check(platform.organisation, verdict="needs_review", faces=[NEEDS_REVIEW_FACE])
    response = member.post(
        f"/api/v1/checks/{check.pk}/reviews",
        {"face": 0, "decision": "not_this_person"},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["decided_by"] == "mira@clipshare.example"


def test_usage_shows_a_chart_per_day_and_the_rate_limits(platform, member, settings):
    settings.CHECKS_RATE_PER_KEY = "600/min"
    settings.CHECKS_RATE_PER_ORGANISATION = "3000/min"
    stored_check(platform.organisation, verdict="blocked")
    stored_check(platform.organisation, verdict="clear")
    stored_check(platform.organisation, created_at=timezone.now() - timedelta(days=45))
    html = member.get(f"{base(platform)}/usage/").content.decode()
    assert "<svg" in html and html.count("<rect") >= 2
    assert "2 checks from" in html
    assert "600 checks per minute" in html and "3000 checks per minute" in html


def test_the_web_form_queues_a_video_that_the_member_polls_through_the_api(
    platform, member, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = tmp_path / "media"
    clip = photo_bytes("video/short_hamilton_clip.mp4")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = member.post(
            f"{base(platform)}/checks/new",
            {"category": "entertainment", "file": SimpleUploadedFile("clip.mp4", clip)},
        )
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["kind"], body["status"], body["source"]) == ("video", "queued", "web")
    assert len(callbacks) == 1
    check = Check.objects.get(pk=body["id"])
    assert check.submitted_by == member.user and check.api_key is None
    # The form's script polls the job as the signed-in member, naming the organisation.
    polled = member.get(
        f"/api/v1/checks/{body['id']}", HTTP_X_ORGANISATION=platform.organisation.slug
    )
    assert polled.status_code == 200 and polled.json()["progress"] == 0


def test_an_operator_reads_a_check_with_its_decisions_in_the_admin(platform, member):
    check = stored_check(platform.organisation, verdict="needs_review", faces=[NEEDS_REVIEW_FACE])
    member.post(
        f"{base(platform)}/checks/{check.pk}/faces/0/review", {"decision": "not_this_person"}
    )
    operator = User.objects.create_superuser(email="ops@registry.example", password="x" * 12)
    client = Client()
    client.force_login(operator)
    page = client.get(f"/admin/matching/check/{check.pk}/change/")
    assert page.status_code == 200
    assert "Not this person" in page.content.decode()
