"""After CHECK_DETAIL_RETENTION_DAYS a check drops its per-face detail (boxes, distances,
references) and keeps its verdict, time, key and receipt, which still verifies."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from consent.lib.receipts import verify_receipt
from consent.selectors import published_keys
from matching import tasks
from matching.models import Check, ReviewDecision
from matching.selectors.checks import review_queue
from matching.services import check_details_drop, review_decide
from registry.lib.errors import Conflict
from tests.matching.checks_fixtures import Platform
from tests.matching.platform_fixtures import NEEDS_REVIEW_FACE, stored_check

pytestmark = pytest.mark.django_db


def test_old_checks_drop_their_face_detail_and_keep_what_they_prove(settings):
    settings.CHECK_DETAIL_RETENTION_DAYS = 90
    platform = Platform("Clip Share")
    now = timezone.now()
    old = stored_check(
        platform.organisation,
        verdict="needs_review",
        faces=[NEEDS_REVIEW_FACE],
        created_at=now - timedelta(days=91),
        api_key=platform.key,
    )
    recent = stored_check(
        platform.organisation,
        verdict="needs_review",
        faces=[NEEDS_REVIEW_FACE],
        created_at=now - timedelta(days=89),
    )
    receipt = old.result["receipt"]

    assert check_details_drop(now=now) == 1
    old.refresh_from_db()
    assert old.detail_dropped_at == now
    assert old.result["faces"] == []
    assert "ref_" not in str(old.result) and "0.5312" not in str(old.result)
    assert (old.verdict, old.created_at, old.api_key_id) == (
        "needs_review",
        now - timedelta(days=91),
        platform.key.pk,
    )
    assert old.result["verdict"] == "needs_review" and old.result["faces_found"] == 1
    assert old.result["receipt"] == receipt
    assert verify_receipt(old.result["receipt"], {"keys": published_keys()})
    fetched = platform.get(str(old.pk)).json()
    assert fetched["detail_dropped"] is True and fetched["result"]["faces"] == []

    recent.refresh_from_db()
    assert recent.result["faces"] == [NEEDS_REVIEW_FACE] and recent.detail_dropped_at is None
    # The queue no longer offers the stripped face; deciding it is refused with a reason.
    assert [item.check.pk for item in review_queue(organisation=platform.organisation)] == [
        recent.pk
    ]
    with pytest.raises(Conflict):
        review_decide(check=old, face=0, decision="not_this_person", decided_by=None)
    assert not ReviewDecision.objects.exists()
    # A second run has nothing left to do.
    assert check_details_drop(now=now) == 0


def test_the_periodic_task_runs_the_sweep(settings):
    settings.CHECK_DETAIL_RETENTION_DAYS = 1
    platform = Platform("Clip Share")
    stored_check(platform.organisation, created_at=timezone.now() - timedelta(days=2))
    assert tasks.check_details_drop.delay().get() == 1
    assert Check.objects.get().detail_dropped_at is not None
    assert "matching.check_details_drop" in {
        entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()
    }
