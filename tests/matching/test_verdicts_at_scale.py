"""A check's verdict depends on how many people it searched: the same face that is blocked in a
small registry is sent for review (or cleared) in a large one, where a stranger would more
often resemble somebody."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from matching.engine import get_engine
from matching.services.decide import candidates_count
from tests.matching.checks_fixtures import Platform, enroll

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_rate_limits")]


@pytest.fixture
def registry_people(db):
    return {
        "obama": enroll("obama", ["obama/obama.jpg"]),
        "biden": enroll("biden", ["biden/biden.jpg"]),
    }


def _pretend_registry_size(size: int) -> None:
    cache.set("matching:candidates:commercial", size, 60)


def _face(response) -> dict:
    assert response.status_code == 200, response.content
    (face,) = response.json()["result"]["faces"]
    return face


def test_the_check_counts_the_people_it_searches(registry_people):
    assert candidates_count("commercial") == 2


def test_a_clear_photo_is_blocked_at_any_size_the_engine_serves(registry_people):
    platform = Platform("Clip Share")
    for size in (2, 600, get_engine().registry_capacity):
        _pretend_registry_size(size)
        face = _face(platform.check_file("people/obama/obama3.jpg"))
        assert (face["verdict"], face["match"]) == ("blocked", "match"), size


def test_weaker_evidence_blocks_in_a_small_registry_and_is_reviewed_in_a_large_one(
    registry_people,
):
    """obama4.jpg lies further from his one enrolled photo than obama3.jpg does."""
    platform = Platform("Clip Share")
    engine = get_engine()
    small = _face(platform.check_file("people/obama/obama4.jpg"))
    assert small["verdict"] == "blocked"
    bar_at = {n: engine.decide({1: [small["distance"]]}, candidates=n).match for n in (2, 10**6)}
    assert bar_at[2] == "match"
    assert bar_at[10**6] != "match", "a million candidates must need stronger evidence"
    _pretend_registry_size(10**6)
    large = _face(platform.check_file("people/obama/obama4.jpg"))
    assert large["verdict"] in ("needs_review", "clear")
    assert large["distance"] in (small["distance"], None)


def test_strangers_are_never_blocked_as_the_registry_grows(registry_people):
    platform = Platform("Clip Share")
    strangers = ["people/kit_harington/kit1.jpg", "people/rose_leslie/rose1.jpg"]
    for size in (2, 100, 1000):
        _pretend_registry_size(size)
        for photo in strangers:
            assert _face(platform.check_file(photo))["verdict"] == "clear", (photo, size)
