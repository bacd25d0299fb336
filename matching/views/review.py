"""A platform's review queue and usage pages (``/orgs/<slug>/review/``, ``/orgs/<slug>/usage/``).

The queue shows each face that needs review by its box, distance band, use and time: never the
person it resembled. Deciding goes through ``matching.services.review_decide``.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from matching import services
from matching.lib.charts import stacked_bars_svg
from matching.models import ReviewDecisionKind, Verdict
from matching.ratelimit import rates_in_force
from matching.selectors.checks import (
    NO_VERDICT,
    review_decisions_recent,
    review_queue,
    usage_per_day,
)
from matching.views.platform import check_of_or_404, member_required, platform_context
from registry.lib.errors import RegistryError
from registry.models import ApiKey, Organisation

# Colours of the usage chart, one per verdict (and for checks without one yet).
SERIES = [
    (Verdict.BLOCKED.value, "Blocked", "#b3261e"),
    (Verdict.NEEDS_REVIEW.value, "Needs review", "#c77700"),
    (Verdict.CONSENTED.value, "Consented", "#1e7a3c"),
    (Verdict.CLEAR.value, "Clear", "#7a8896"),
    (NO_VERDICT, "No verdict (running, failed)", "#c5cbd2"),
]


@member_required
@require_GET
def review_queue_page(request: HttpRequest, organisation: Organisation) -> HttpResponse:
    items = review_queue(organisation=organisation)
    now = timezone.now()
    oldest = min((item.waiting_since for item in items), default=None)
    return render(
        request,
        "matching/platform/review.html",
        {
            **platform_context(organisation, "review"),
            "items": items,
            "oldest": oldest,
            "oldest_age": (now - oldest) if oldest else None,
            "decided": review_decisions_recent(organisation=organisation),
            "decisions": ReviewDecisionKind.choices,
        },
    )


@member_required
@require_POST
def review_decide(
    request: HttpRequest, organisation: Organisation, check_id, face: int
) -> HttpResponse:
    check = check_of_or_404(organisation, check_id)
    try:
        review = services.review_decide(
            check=check,
            face=face,
            decision=request.POST.get("decision", ""),
            decided_by=request.user,
        )
    except RegistryError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request, f"Face {face + 1} of the check: {review.get_decision_display().lower()}."
        )
    if request.POST.get("next") == "check":
        return redirect("platform-check", slug=organisation.slug, check_id=check.pk)
    return redirect("platform-review", slug=organisation.slug)


@member_required
@require_GET
def usage_page(request: HttpRequest, organisation: Organisation) -> HttpResponse:
    days = usage_per_day(organisation=organisation)
    totals = {key: sum(counts[key] for _day, counts in days) for key, _label, _c in SERIES}
    rates = rates_in_force()
    return render(
        request,
        "matching/platform/usage.html",
        {
            **platform_context(organisation, "usage"),
            "chart": stacked_bars_svg(
                bars=[(day.strftime("%d %b"), counts) for day, counts in days],
                series=SERIES,
                title=f"Checks per day and verdict, {days[0][0]} to {days[-1][0]} (UTC)",
            ),
            "series": [(key, label, colour, totals[key]) for key, label, colour in SERIES],
            "total": sum(totals.values()),
            "days": days,
            "per_key": rates["per_key"],
            "per_organisation": rates["per_organisation"],
            "keys": ApiKey.objects.filter(organisation=organisation).order_by("name", "pk"),
        },
    )
