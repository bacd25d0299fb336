"""GET /api/v1/checks: every check of the caller's organisation, newest first, paginated and
filtered; never another organisation's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from registry.models import Membership, MembershipRole, User
from registry.services import api_key_create
from tests.matching.checks_fixtures import Platform
from tests.matching.platform_fixtures import NEEDS_REVIEW_FACE, stored_check

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_rate_limits")]

DAY = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def platform() -> Platform:
    return Platform("Clip Share", scopes=("checks:read",))


def listing(platform: Platform, query: str = ""):
    return platform.client.get(f"/api/v1/checks{query}", **platform.auth)


def test_every_verdict_is_listed_newest_first(platform):
    made = [
        stored_check(platform.organisation, verdict=verdict, created_at=DAY + timedelta(hours=n))
        for n, verdict in enumerate(["clear", "blocked", "needs_review", "consented"])
    ]
    response = listing(platform)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 4
    assert [c["id"] for c in body["results"]] == [str(c.pk) for c in reversed(made)]
    assert {c["result"]["verdict"] for c in body["results"]} == {
        "clear",
        "blocked",
        "needs_review",
        "consented",
    }
    assert body["results"][0]["result"]["receipt"]["payload"]["body"]["check_id"] == str(
        made[-1].pk
    )


def test_pages_by_limit_and_offset(platform):
    for n in range(5):
        stored_check(platform.organisation, created_at=DAY + timedelta(minutes=n))
    first = listing(platform, "?limit=2").json()
    assert first["count"] == 5 and len(first["results"]) == 2
    assert "offset=2" in first["next"] and first["previous"] is None
    last = listing(platform, "?limit=2&offset=4").json()
    assert len(last["results"]) == 1 and last["next"] is None
    pages = [listing(platform, f"?limit=2&offset={offset}").json() for offset in (0, 2, 4)]
    seen = {c["id"] for page in pages for c in page["results"]}
    assert len(seen) == 5


def test_filters_by_verdict_dates_and_key(platform):
    other_key, _secret = api_key_create(
        organisation=platform.organisation, name="batch", scopes=["checks:write"], created_by=None
    )
    stored_check(platform.organisation, verdict="clear", created_at=DAY, api_key=platform.key)
    blocked = stored_check(
        platform.organisation, verdict="blocked", created_at=DAY + timedelta(days=1)
    )
    late = stored_check(
        platform.organisation,
        verdict="clear",
        created_at=DAY + timedelta(days=3),
        api_key=other_key,
    )

    def ids(query):
        response = listing(platform, query)
        assert response.status_code == 200, response.content
        return {c["id"] for c in response.json()["results"]}

    assert ids("?verdict=blocked") == {str(blocked.pk)}
    assert ids("?since=2026-03-11&until=2026-03-11") == {str(blocked.pk)}
    assert ids("?since=2026-03-12") == {str(late.pk)}
    assert len(ids("?until=2026-03-11")) == 2
    assert ids(f"?api_key={other_key.pk}") == {str(late.pk)}
    assert ids(f"?api_key={other_key.pk}&verdict=blocked") == set()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?verdict=maybe", "verdict: expected one of blocked, needs_review, consented, clear"),
        ("?since=10/03/2026", "since: expected a date as YYYY-MM-DD"),
        ("?until=2026-02-30", "until: expected a date as YYYY-MM-DD"),
        ("?since=2026-03-12&until=2026-03-01", "since (2026-03-12) is after until (2026-03-01)"),
        ("?api_key=abc", "api_key: expected an API key id"),
        ("?limit=ten", None),
    ],
)
def test_bad_filter_values_are_a_clear_400(platform, query, expected):
    response = listing(platform, query)
    if expected is None:  # DRF's limit parsing falls back to the default page size
        assert response.status_code == 200
        return
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert expected in error["message"]


def test_another_organisations_checks_are_never_visible(platform):
    other = Platform("Other Tube", scopes=("checks:read",))
    theirs = stored_check(other.organisation, verdict="blocked")
    mine = stored_check(platform.organisation)
    assert {c["id"] for c in listing(platform).json()["results"]} == {str(mine.pk)}
    assert listing(platform, f"?api_key={other.key.pk}").json()["count"] == 0
    assert platform.get(str(theirs.pk)).status_code == 404
    assert platform.get(str(mine.pk)).status_code == 200


def test_anonymous_is_401_and_a_key_without_a_checks_scope_is_403(platform):
    assert Client().get("/api/v1/checks").status_code == 401
    consent_only = Platform("Studio", kind="studio", scopes=("consent:read",))
    response = listing(consent_only)
    assert response.status_code == 403
    assert "checks:read" in response.json()["error"]["message"]


def test_a_checks_write_key_may_read_its_history():
    writer = Platform("Writer", scopes=("checks:write",))
    stored_check(writer.organisation)
    assert listing(writer).json()["count"] == 1


def test_a_signed_in_member_lists_through_the_session(platform):
    user = User.objects.create_user(email="member@example.test", password="x" * 12)
    Membership.objects.create(
        user=user, organisation=platform.organisation, role=MembershipRole.MEMBER
    )
    stored_check(platform.organisation, verdict="needs_review", faces=[NEEDS_REVIEW_FACE])
    client = Client()
    client.force_login(user)
    response = client.get("/api/v1/checks", HTTP_X_ORGANISATION=platform.organisation.slug)
    assert response.status_code == 200
    (check,) = response.json()["results"]
    assert check["reviews"] == [] and check["source"] == "api"


def test_a_clear_image_check_is_readable_by_id_with_its_key(platform, registry_people_none):
    writer = Platform("Reader Writer", scopes=("checks:write",))
    made = writer.check_file("people/rose_leslie/rose1.jpg").json()
    assert made["result"]["verdict"] == "clear" and made["api_key"] == writer.key.pk
    fetched = writer.get(made["id"]).json()
    assert fetched["result"]["receipt"] == made["result"]["receipt"]
    listed = listing(writer).json()["results"]
    assert [c["id"] for c in listed] == [made["id"]]


@pytest.fixture
def registry_people_none(db):
    """Nobody has opted out: any face comes out clear."""
    return {}
