"""A platform's pages under ``/orgs/<slug>/``: its checks history, a check's detail with the
receipt to download, and the web form that checks an image or a video as the organisation.

Members only (any role); anyone else gets a 404, as if the organisation did not exist. Thin
views: the reads are ``matching.selectors.checks``, the writes ``matching.services``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods
from rest_framework.exceptions import Throttled

from consent.lib.uses import USE_CATEGORIES
from matching import services
from matching.models import Check, CheckSource, ReviewDecisionKind, Verdict
from matching.ratelimit import check_rate
from matching.selectors.checks import (
    WEB_FORM_KEY,
    check_filters_clean,
    organisation_checks,
    review_queue,
)
from registry.lib.errors import NotFound, RegistryError, ValidationFailed
from registry.models import ApiKey, Membership, Organisation
from registry.pages import organisation_page

PAGE_SIZE = 50


def member_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Any member of the URL's organisation (``registry.pages.organisation_page``, the one
    membership check of the site's pages); the view is called as
    ``view(request, organisation, ...)``."""

    @organisation_page
    @wraps(view)
    def for_member(request: HttpRequest, membership: Membership, *args, **kwargs) -> HttpResponse:
        return view(request, membership.organisation, *args, **kwargs)

    return for_member


def platform_context(organisation: Organisation, section: str) -> dict:
    """What every platform page's navigation needs."""
    return {
        "organisation": organisation,
        "section": section,
        "waiting_reviews": len(review_queue(organisation=organisation)),
    }


def check_of_or_404(organisation: Organisation, check_id) -> Check:
    try:
        return services.check_get(check_id=str(check_id), organisation=organisation)
    except NotFound:
        raise Http404("No such check.") from None


@member_required
@require_GET
def checks_history(request: HttpRequest, organisation: Organisation) -> HttpResponse:
    params = {name: request.GET.get(name, "") for name in ("verdict", "since", "until", "api_key")}
    error = None
    try:
        filters = check_filters_clean(**params)
    except ValidationFailed as failed:
        error, filters = failed.message, None
    checks = (
        organisation_checks(organisation=organisation, filters=filters)
        if filters is not None
        else Check.objects.none()
    )
    page = Paginator(checks, PAGE_SIZE).get_page(request.GET.get("page"))
    query = urlencode({name: value for name, value in params.items() if value})
    return render(
        request,
        "matching/platform/history.html",
        {
            **platform_context(organisation, "history"),
            "page": page,
            "params": params,
            "query": query,
            "filter_error": error,
            "verdicts": Verdict.choices,
            "keys": ApiKey.objects.filter(organisation=organisation).order_by("name", "pk"),
            "web_form_key": WEB_FORM_KEY,
            "retention_days": settings.CHECK_DETAIL_RETENTION_DAYS,
        },
        status=400 if error else 200,
    )


@member_required
@require_GET
def check_detail(request: HttpRequest, organisation: Organisation, check_id) -> HttpResponse:
    check = check_of_or_404(organisation, check_id)
    reviews = {review.face: review for review in check.reviews.select_related("decided_by")}
    faces = [
        {"index": index, "entry": entry, "review": reviews.get(index)}
        for index, entry in enumerate((check.result or {}).get("faces", []))
    ]
    return render(
        request,
        "matching/platform/check_detail.html",
        {
            **platform_context(organisation, "history"),
            "check": check,
            "faces": faces,
            "has_receipt": bool((check.result or {}).get("receipt")),
            "decisions": ReviewDecisionKind.choices,
        },
    )


@member_required
@require_GET
def check_receipt_download(
    request: HttpRequest, organisation: Organisation, check_id
) -> HttpResponse:
    """The signed receipt as a file ``manage.py verify_receipt`` accepts."""
    check = check_of_or_404(organisation, check_id)
    receipt = (check.result or {}).get("receipt")
    if not receipt:
        raise Http404("This check has no receipt yet (a video still running, or failed).")
    response = HttpResponse(
        json.dumps(receipt, indent=2, ensure_ascii=False) + "\n",
        content_type="application/json",
    )
    response["Content-Disposition"] = f'attachment; filename="receipt-check-{check.pk}.json"'
    return response


@member_required
@require_GET
def check_export(request: HttpRequest, organisation: Organisation, check_id) -> HttpResponse:
    """The check as the API shows it (result, receipt, review decisions), as a file."""
    check = check_of_or_404(organisation, check_id)
    response = HttpResponse(
        json.dumps(services.check_representation(check), indent=2, ensure_ascii=False) + "\n",
        content_type="application/json",
    )
    response["Content-Disposition"] = f'attachment; filename="check-{check.pk}.json"'
    return response


def _error(error: RegistryError) -> JsonResponse:
    return JsonResponse({"error": error.as_dict()}, status=error.status_code)


@member_required
@require_http_methods(["GET", "POST"])
def check_new(request: HttpRequest, organisation: Organisation) -> HttpResponse:
    """GET: the form. POST (the form's script, multipart): the check as JSON, like the API."""
    if request.method == "GET":
        return render(
            request,
            "matching/platform/check_new.html",
            {**platform_context(organisation, "new"), "categories": USE_CATEGORIES},
        )
    category = request.POST.get("category", "")
    upload = request.FILES.get("file")
    if category not in USE_CATEGORIES:
        return _error(
            ValidationFailed(
                f"Choose a use category: one of {', '.join(USE_CATEGORIES)}.",
                detail={"category": "required"},
            )
        )
    if upload is None:
        return _error(
            ValidationFailed("Choose an image or a video to check.", detail={"file": "required"})
        )
    try:
        check_rate(key_id=None, organisation_id=organisation.pk)
        body, status = services.media_check_submit(
            upload=upload,
            category=category,
            organisation=organisation,
            api_key=None,
            submitted_by=request.user,
            source=CheckSource.WEB,
        )
    except Throttled as throttled:
        return JsonResponse(
            {
                "error": {
                    "code": "rate_limited",
                    "message": f"Too many checks: try again in {throttled.wait:.0f} seconds.",
                    "detail": None,
                }
            },
            status=429,
        )
    except RegistryError as error:
        return _error(error)
    return JsonResponse(body, status=status)
