"""Reads of an organisation's own checks: its history (with filters), the faces waiting for a
member's review, and its usage per day."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from matching.models import Check, ReviewDecision, Verdict
from registry.lib.errors import ValidationFailed
from registry.models import Organisation

#: The ``api_key`` filter value for checks members made through the web form.
WEB_FORM_KEY = "web"
#: Usage without a verdict: video jobs still running, failed or cancelled.
NO_VERDICT = "no_verdict"


@dataclass(frozen=True, slots=True)
class CheckFilters:
    verdict: str | None = None
    since: date | None = None
    until: date | None = None
    api_key: int | str | None = None

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.verdict, self.since, self.until, self.api_key))


def _shown(value: str) -> str:
    return value if len(value) <= 40 else value[:40] + "..."


def _date(name: str, value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValidationFailed(
            f"{name}: expected a date as YYYY-MM-DD, e.g. 2026-01-31 (got {_shown(value)!r}).",
            detail={name: "expected YYYY-MM-DD"},
        ) from None


def check_filters_clean(
    *,
    verdict: str | None = None,
    since: str | None = None,
    until: str | None = None,
    api_key: str | None = None,
) -> CheckFilters:
    """Filters from query parameters (empty means "any"); a bad value raises a 400 that says
    what was expected."""
    if verdict and verdict not in Verdict.values:
        raise ValidationFailed(
            f"verdict: expected one of {', '.join(Verdict.values)} (got {_shown(verdict)!r}).",
            detail={"verdict": f"one of {', '.join(Verdict.values)}"},
        )
    start, end = _date("since", since), _date("until", until)
    if start and end and start > end:
        raise ValidationFailed(
            f"since ({start}) is after until ({end}): the range is empty.",
            detail={"since": "after until"},
        )
    key: int | str | None = None
    if api_key:
        if api_key == WEB_FORM_KEY:
            key = WEB_FORM_KEY
        elif api_key.isdigit() and len(api_key) < 19:
            key = int(api_key)
        else:
            raise ValidationFailed(
                f"api_key: expected an API key id (a number) or {WEB_FORM_KEY!r} for checks made "
                f"through the web form (got {_shown(api_key)!r}).",
                detail={"api_key": "a key id or 'web'"},
            )
    return CheckFilters(verdict=verdict or None, since=start, until=end, api_key=key)


def organisation_checks(
    *, organisation: Organisation, filters: CheckFilters | None = None
) -> QuerySet[Check]:
    """Every check the organisation made, newest first, narrowed by ``filters``."""
    checks = Check.objects.filter(organisation=organisation)
    filters = filters or CheckFilters()
    if filters.verdict:
        checks = checks.filter(verdict=filters.verdict)
    if filters.since:
        checks = checks.filter(created_at__gte=datetime.combine(filters.since, time.min, UTC))
    if filters.until:
        end = datetime.combine(filters.until + timedelta(days=1), time.min, UTC)
        checks = checks.filter(created_at__lt=end)
    if filters.api_key == WEB_FORM_KEY:
        checks = checks.filter(source="web")
    elif filters.api_key is not None:
        checks = checks.filter(api_key_id=filters.api_key)
    return (
        checks.select_related("api_key", "submitted_by")
        .prefetch_related("reviews__decided_by")
        .order_by("-created_at", "-pk")
    )


@dataclass(frozen=True, slots=True)
class ReviewItem:
    """One face of a check that waits for a member's decision."""

    check: Check
    face: int
    entry: dict[str, Any]

    @property
    def waiting_since(self) -> datetime:
        return self.check.finished_at or self.check.created_at

    @property
    def distance_band(self) -> str:
        """The distance rounded into a 0.05 band: how close, without the exact number."""
        distance = self.entry.get("distance")
        if distance is None:
            return "unknown"
        low = math.floor(float(distance) * 20) / 20
        return f"{low:.2f} to {low + 0.05:.2f}"

    @property
    def geometry(self) -> dict[str, int | str]:
        """The face's box inside a frame twice its size, for drawing it on nothing."""
        top, right, bottom, left = (int(v) for v in self.entry.get("box", [0, 1, 1, 0]))
        width, height = max(right - left, 1), max(bottom - top, 1)
        side = max(width, height) * 2
        view_x, view_y = left + width // 2 - side // 2, top + height // 2 - side // 2
        return {
            "top": top,
            "left": left,
            "width": width,
            "height": height,
            "view": f"{view_x} {view_y} {side} {side}",
            "view_x": view_x,
            "view_y": view_y,
            "view_w": side,
            "view_h": side,
            "stroke": max(side // 60, 1),
            "colour": "#c77700",
        }


def review_queue(*, organisation: Organisation) -> list[ReviewItem]:
    """Faces of the organisation's checks that need review and have no decision, oldest first."""
    checks = (
        Check.objects.filter(
            organisation=organisation,
            detail_dropped_at__isnull=True,
            result__faces__contains=[{"verdict": Verdict.NEEDS_REVIEW.value}],
        )
        .prefetch_related("reviews")
        .order_by("created_at", "pk")
    )
    items = []
    for check in checks:
        decided = {review.face for review in check.reviews.all()}
        for index, entry in enumerate(check.result.get("faces", [])):
            if entry.get("verdict") == Verdict.NEEDS_REVIEW.value and index not in decided:
                items.append(ReviewItem(check=check, face=index, entry=entry))
    return items


def review_decisions_recent(*, organisation: Organisation, limit: int = 20) -> list:
    return list(
        ReviewDecision.objects.filter(media_check__organisation=organisation)
        .select_related("media_check", "decided_by")
        .order_by("-decided_at")[:limit]
    )


def usage_per_day(
    *, organisation: Organisation, days: int = 30, today: date | None = None
) -> list[tuple[date, dict[str, int]]]:
    """Checks per UTC day and verdict over the last ``days`` days (today included), oldest
    first, every day present (zeros where nothing happened)."""
    today = today or timezone.now().astimezone(UTC).date()
    start = today - timedelta(days=days - 1)
    rows = (
        Check.objects.filter(
            organisation=organisation,
            created_at__gte=datetime.combine(start, time.min, UTC),
            created_at__lt=datetime.combine(today + timedelta(days=1), time.min, UTC),
        )
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values("day", "verdict")
        .annotate(count=Count("pk"))
        .order_by()
    )
    per_day: dict[date, dict[str, int]] = {
        start + timedelta(days=n): dict.fromkeys([*Verdict.values, NO_VERDICT], 0)
        for n in range(days)
    }
    for row in rows:
        per_day[row["day"]][row["verdict"] or NO_VERDICT] += row["count"]
    return list(per_day.items())
