"""Server-rendered pages of the matching app."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from matching import selectors
from matching.health import system_health
from registry.models import Person
from registry.pages import person_required

PAGE_SIZE = 50


@person_required
def checks_that_matched_me(request: HttpRequest, person: Person) -> HttpResponse:
    """Every check in which an organisation's media matched the signed-in person."""
    page = Paginator(selectors.person_check_matches(person=person), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(request, "matching/checks_that_matched_me.html", {"page": page})


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    health = system_health()
    return JsonResponse(health, status=200 if health["status"] == "ok" else 503)
